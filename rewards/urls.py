"""The member portal's URLs (namespace `portal`)."""

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("historia/", views.history, name="history"),
    path("logowanie/", views.login, name="login"),
    path("wyloguj/", views.logout, name="logout"),
    path("healthz", views.health, name="health"),
]
