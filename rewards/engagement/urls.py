"""The engagement app's portal pages. The site includes them in the `portal` namespace."""

from django.urls import path

# Importing portal registers the header links and the challenges card (loyalty_site.portal).
from . import portal, views  # noqa: F401

urlpatterns = [
    path("wyzwania/", views.challenges, name="engagement_challenges"),
    path("wyzwania/<slug:code>/", views.challenge_detail, name="engagement_challenge"),
    path("odznaki/", views.badges, name="engagement_badges"),
    path("ranking/", views.leaderboard, name="engagement_leaderboard"),
    path("ranking/profil/", views.leaderboard_profile, name="engagement_leaderboard_profile"),
    path("polec/", views.refer, name="engagement_refer"),
]
