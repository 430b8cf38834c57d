"""The members app's portal pages: home, the account pages (log in and out, join, claim, reset a password,
confirm an email), the profile and the privacy centre. The site includes them in the `portal` namespace."""

from django.urls import path

# Importing portal registers the members' navigation entries and home page cards (loyalty_site.portal): the site's
# URLconf imports this module before any page is drawn.
from . import portal, views  # noqa: F401
from .accounts import views as accounts

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("logowanie/", views.login, name="login"),
    path("wyloguj/", views.logout, name="logout"),
    path("dolacz/", accounts.signup, name="signup"),
    path("aktywuj/", accounts.claim, name="claim"),
    path("aktywuj/kod/", accounts.claim_code, name="claim_code"),
    path("aktywuj/<int:token_id>/<str:secret>/", accounts.claim_link, name="claim_link"),
    path("potwierdz-email/<int:token_id>/<str:secret>/", accounts.verify_email, name="verify_email"),
    path("potwierdz-email/", accounts.verify_email_resend, name="verify_email_resend"),
    path("haslo/", accounts.password_reset, name="password_reset"),
    path("haslo/wyslano/", accounts.password_reset_done, name="password_reset_done"),
    path("haslo/<uidb64>/<token>/", accounts.password_reset_confirm, name="password_reset_confirm"),
    path("haslo/gotowe/", accounts.password_reset_complete, name="password_reset_complete"),
    path("jezyk/", accounts.set_language, name="set_language"),
    path("profil/", accounts.profile, name="profile"),
    path("zgody/", accounts.privacy, name="privacy"),
    path("zgody/historia/", accounts.consent_history, name="consent_history"),
    path("zgody/zgoda/<str:channel>/<str:purpose>/", accounts.consent_toggle, name="consent_toggle"),
    path("zgody/eksport/", accounts.data_export_start, name="data_export"),
    path("zgody/eksport/<int:pk>/", accounts.data_export_status, name="data_export_status"),
    path("zgody/eksport/<int:pk>/pobierz/", accounts.data_export_download, name="data_export_download"),
    path("zgody/usun-konto/", accounts.account_delete, name="account_delete"),
    path("konto-usuniete/", accounts.account_deleted, name="account_deleted"),
]
