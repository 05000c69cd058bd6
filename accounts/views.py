"""Log in: Django's view with the throttled form; a locked-out attempt answers 429 Too Many Requests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from accounts.forms import LoginForm, is_locked_out


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if is_locked_out(form):
            response.status_code = 429
        return response
