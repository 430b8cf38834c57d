"""The language cookie the portal reads (members.accounts.middleware), set by the switcher and at login."""

from django.conf import settings
from django.http import HttpResponse


def with_language(response: HttpResponse, language: str) -> HttpResponse:
    """Set the language cookie the portal reads (ChosenLanguageMiddleware)."""
    if language in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    return response
