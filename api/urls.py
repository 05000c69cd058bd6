"""Routes of the REST API, mounted at /rest/api/2/, /rest/api/3/ and /rest/api/latest/ (taskra_site/urls.py).

One set of views for every version: the `version` URL argument reaches the api_view decorator, which
makes v3 write descriptions and comment bodies as Atlassian Document Format. Adding an endpoint: see
docs/api.md, "Adding an endpoint".
"""

from django.urls import path, re_path

from api.views import attachments, comments, issues, jql, links, meta, search, transitions, worklogs
from api.views.fallback import unsupported

app_name = "api"
urlpatterns = [
    path("serverInfo", meta.server_info, name="server_info"),
    path("myself", meta.myself, name="myself"),
    path("mypermissions", meta.my_permissions, name="mypermissions"),
    path("field", meta.fields, name="field"),
    path("project", meta.projects, name="projects"),
    path("project/search", meta.project_search, name="project_search"),
    path("project/<str:id_or_key>", meta.project_detail, name="project"),
    path("issuetype", meta.issue_types, name="issuetypes"),
    path("status", meta.statuses, name="statuses"),
    path("priority", meta.priorities, name="priorities"),
    path("resolution", meta.resolutions, name="resolutions"),
    path("user/search", meta.user_search, name="user_search"),
    path("user", meta.user, name="user"),
    path("search", search.search, name="search"),
    path("search/jql", search.search_jql, name="search_jql"),
    path("jql/autocompletedata", jql.autocomplete, name="jql_autocomplete"),
    path("jql/autocompletedata/suggestions", jql.suggestions, name="jql_suggestions"),
    path("issue", issues.issue_create_view, name="issue_create"),
    path("issue/bulk", issues.issue_bulk, name="issue_bulk"),
    path("issue/<str:id_or_key>", issues.issue, name="issue"),
    path("issue/<str:id_or_key>/comment", comments.comments, name="comments"),
    path("issue/<str:id_or_key>/attachments", attachments.issue_attachments, name="issue_attachments"),
    path("issue/<str:id_or_key>/comment/<str:comment_id>", comments.comment, name="comment"),
    path("issue/<str:id_or_key>/worklog", worklogs.worklogs, name="worklogs"),
    path("issue/<str:id_or_key>/worklog/<str:worklog_id>", worklogs.worklog, name="worklog"),
    path("issue/<str:id_or_key>/transitions", transitions.transitions, name="transitions"),
    path("attachment/content/<str:attachment_id>", attachments.attachment_content, name="attachment_content"),
    path("attachment/thumbnail/<str:attachment_id>", attachments.attachment_thumbnail, name="attachment_thumbnail"),
    path("attachment/<str:attachment_id>", attachments.attachment, name="attachment"),
    path("issueLink", links.issue_link_create_view, name="issue_link_create"),
    path("issueLink/<str:link_id>", links.issue_link, name="issue_link"),
    path("issueLinkType", links.issue_link_types, name="issue_link_types"),
    path("issueLinkType/<str:type_id>", links.issue_link_type, name="issue_link_type"),
    path("worklog/updated", worklogs.updated, name="worklogs_updated"),
    path("worklog/list", worklogs.worklog_list, name="worklog_list"),
    # Anything else under the API root: Jira's 404 in Jira's shape (docs/api.md lists what is not supported).
    re_path(r"^.*$", unsupported, name="unsupported"),
]
