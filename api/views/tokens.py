"""The API tokens page (/accounts/tokens/): create a token (its text shown once), list them, revoke one."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from api.selectors import tokens_of
from api.services import api_token_create, api_token_revoke
from taskra_site.validation import apply_validation_errors_to_form


class TokenForm(forms.Form):
    label = forms.CharField(max_length=100, help_text="What uses the token, e.g. “laptop CLI”.")
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires in (days)", help_text="Empty: never expires."
    )


@require_http_methods(["GET", "HEAD", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    created_text = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            _token, created_text = api_token_create(
                user=request.user, label=form.cleaned_data["label"], expires=expires
            )
        except ValidationError as exc:
            apply_validation_errors_to_form(form, exc)
        else:
            form = TokenForm()
    # The new token's text is rendered into this one response and never stored or shown again.
    context = {"form": form, "tokens": tokens_of(request.user), "created_text": created_text, "now": timezone.now()}
    response = render(request, "api/tokens.html", context, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = tokens_of(request.user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.label}” revoked.")
    return HttpResponseRedirect(reverse("tokens:list"))
