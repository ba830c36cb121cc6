from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.urls import include, path

from riskapp.assessments.views import about_content

urlpatterns = [
    path("", lambda request: redirect("projects:list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/profile/", include("riskapp.accounts.urls")),
    path("projects/", include("riskapp.projects.urls")),
    path("portfolio/", include("riskapp.dashboards.urls")),
    path("api/v1/", include("riskapp.api.urls")),
    path("about/content/", about_content, name="about_content"),
    path("admin/", admin.site.urls),
]
