"""Log in (Django's view with the throttled form; a locked-out attempt answers 429), the profile page and password
change."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from accounts.forms import LoginForm, ProfileForm, is_locked_out
from accounts.services import profile_update
from taskra_site.validation import apply_validation_errors_to_form


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if is_locked_out(form):
            response.status_code = 429
        return response


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """Show and change one's own display name and time zone; links to password change and API tokens."""
    current = getattr(request.user, "profile", None)  # a user without a profile gets one on save
    initial = {"display_name": getattr(current, "display_name", ""), "time_zone": getattr(current, "time_zone", "UTC")}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            profile_update(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_errors_to_form(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return HttpResponseRedirect(reverse("profile"))
    status = 400 if form.is_bound else 200
    return render(request, "accounts/profile.html", {"form": form}, status=status)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's password (the current one first); the session stays signed in."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("profile")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Password changed.")
        return response
