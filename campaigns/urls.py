"""Public URLs of campaigns (no login): unsubscribe, tracking, the inbound SMS webhook."""

from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("c/<str:token>/o.gif", views.track_open, name="track-open"),
    path("c/<str:token>/l/<int:number>/", views.track_click, name="track-click"),
    path("sms/inbound/", views.sms_inbound, name="sms-inbound"),
]
