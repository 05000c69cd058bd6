"""Log in and log out, the profile page and password change."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.views import LoginView, PasswordChangeView, profile

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", profile, name="profile"),
    path("password/", PasswordChangeView.as_view(), name="password_change"),
]
