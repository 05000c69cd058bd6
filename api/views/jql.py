"""jql/autocompletedata and jql/autocompletedata/suggestions: Jira's JQL autocomplete, also used by the navigator.

The data comes from issues.jql.suggest: field and function names of the language, and values the caller
may see (their projects, people sharing a project with them, labels used in their projects).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from api.http import api_view
from issues.jql.suggest import autocomplete_data, value_suggestions


@api_view("GET")
def autocomplete(request: HttpRequest) -> dict[str, Any]:
    """Return the JQL field names (with operators), function names and reserved words."""
    return autocomplete_data()


@api_view("GET")
def suggestions(request: HttpRequest) -> dict[str, Any]:
    """Return values of ?fieldName= starting with ?fieldValue= ({"results": [{value, displayName}]})."""
    field = request.GET.get("fieldName", "")
    prefix = request.GET.get("fieldValue", "")
    return {"results": value_suggestions(user=request.user, field_name=field, prefix=prefix)}
