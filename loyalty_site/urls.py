"""URL root: the staff admin under /admin/, the member portal at /."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Program lojalnościowy — panel personelu"
admin.site.site_title = "Program lojalnościowy"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("rewards.urls")),
]
