"""URL root: the staff admin under /admin/, the member portal at /.

The portal is composed here from each app's own pages, all in the one `portal` namespace (settings name
`portal:login`, `portal:home`): one include of a list, since two includes with the same namespace would let only
the first be reversed. Importing an app's `urls.py` also imports its `portal.py`, which registers the app's
navigation entries and dashboard cards (`loyalty_site.portal`).
"""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from members import urls as members_urls
from rewards import urls as rewards_urls
from rewards.engagement import urls as engagement_urls

from . import views

portal_urlpatterns = [
    *members_urls.urlpatterns,  # home, login, logout
    *rewards_urls.urlpatterns,  # history
    *engagement_urls.urlpatterns,  # challenges, badges, leaderboard, refer a friend
    path("healthz", views.health, name="health"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("campaigns.urls")),  # unsubscribe, tracking, inbound SMS: public, no portal login
    path("", include((portal_urlpatterns, "portal"))),
    # Public catalog images in DEBUG (the demo); production serves PUBLIC_MEDIA_URL from the web server
    # (docs/deploy.md). static() adds nothing when DEBUG is off. Private MEDIA_ROOT is never served.
    *static(settings.PUBLIC_MEDIA_URL, document_root=settings.PUBLIC_MEDIA_ROOT),
]
