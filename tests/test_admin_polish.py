"""The staff admin reads as Polish: every page a member of staff opens, in Polish, shows none of our own English
strings and none of Django's every-gender-at-once forms ("Dodaj kolejne(go)(-ną)(-ny)")."""

import contextlib
import html
import re

import polib
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.functional import Promise

pytestmark = pytest.mark.django_db

OUR_APPS = {"members", "rewards", "campaigns", "analytics", "files", "engagement", "login_throttle", "demo"}
GENERIC_FORMS = re.compile(r"\((?:a|go|i|-\w{1,6})\)")
# English that is also Polish, or names: allowed wherever it shows.
SAME_IN_BOTH = {"Status", "SKU", "NIP", "ID", "SMS", "E-mail", "Email", "OK", "CSV", "XLSX", "URL", "PLN", "RFM"}


def _catalogue():
    return polib.pofile(str(settings.BASE_DIR / "locale" / "pl" / "LC_MESSAGES" / "django.po"))


def _our_english_strings() -> list[str]:
    """Our msgids whose Polish differs: seen on a Polish page, each means a string shown untranslated."""
    strings = []
    for entry in _catalogue():
        if entry.obsolete or entry.msgid_plural or "%" in entry.msgid or "{" in entry.msgid:
            continue
        text = entry.msgid.strip()
        if entry.msgstr == text or text in SAME_IN_BOTH or not text.isascii() or "<" in text:
            continue
        if len(text) >= 5 and re.search(r"[a-z]{3}", text):
            strings.append(text)
    return strings


def _visible_text(page: str) -> str:
    page = re.sub(r"(?is)<(script|style|textarea|svg)\b.*?</\1>", " ", page)
    page = re.sub(r"(?is)<option\b[^>]*>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def _admin_pages() -> list[str]:
    urls = []

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
            elif pattern.name and not pattern.name.startswith(("otp_", "logout", "jsi18n")):
                with contextlib.suppress(NoReverseMatch):
                    urls.append(reverse(f"admin:{pattern.name}"))

    walk(admin.site.get_urls())
    # One object's page of each of our models.
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OUR_APPS:
            continue
        first = model_admin.get_queryset_for_pages() if hasattr(model_admin, "get_queryset_for_pages") else None
        first = (first or model.objects).order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[first.pk]))
    return sorted(set(urls))


def _polish_msgids() -> set[str]:
    return {entry.msgid for entry in _catalogue() if entry.translated() and not entry.obsolete}


def test_catalogue_is_complete():
    """Every msgid of the Polish catalogue has Polish, none is fuzzy (a guess makemessages made)."""
    catalogue = _catalogue()
    untranslated = [entry.msgid for entry in catalogue.untranslated_entries() if not entry.obsolete]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries() if not entry.obsolete]
    assert not untranslated, f"untranslated: {untranslated[:50]}"
    assert not fuzzy, f"fuzzy: {fuzzy[:50]}"


def test_model_and_field_names_of_our_apps_are_translated():
    """Each name is marked for translation (a lazy string, not the name Django derives from the attribute) and
    has Polish in the catalogue. A Polish word spelled like the English one ("status", "partner") counts: it is
    in the catalogue on purpose."""
    missing = []
    polish = _polish_msgids()
    with translation.override("pl"):
        for model in apps.get_models():
            meta = model._meta
            if meta.app_label not in OUR_APPS:
                continue
            for name in (meta.verbose_name, meta.verbose_name_plural):
                if not isinstance(name, Promise) or str(name._args[-1]) not in polish:
                    missing.append(f"{meta.label}: model name {str(name)!r} not marked or not in the catalogue")
            for field in meta.get_fields():
                if not hasattr(field, "verbose_name") or field.auto_created:
                    continue
                label = field.verbose_name
                if not isinstance(label, Promise):
                    if len(str(label)) > 1:  # one-letter names (RFM's R, F, M) read the same in every language
                        missing.append(f"{meta.label}.{field.name}: {str(label)!r} not marked for translation")
                    continue
                msgid = str(label._args[-1])
                if msgid not in polish:
                    missing.append(f"{meta.label}.{field.name}: {msgid!r} has no Polish")
    assert not missing, "\n".join(missing)


def test_every_admin_page_reads_polish(admin_client):
    call_command("demo_seed", "--members", "40", "--purchases", "300", verbosity=0)
    english = _our_english_strings()
    phrases = [(text, re.compile(r"(?<![\w-])" + re.escape(text) + r"(?![\w-])")) for text in english]
    problems = []
    pages = _admin_pages()
    assert len(pages) > 60
    for url in pages:
        response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="pl")
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        text = _visible_text(response.content.decode())
        if match := GENERIC_FORMS.search(text):
            problems.append(f"{url}: generic form {text[max(0, match.start() - 40) : match.end() + 20]!r}")
        for phrase, pattern in phrases:
            if pattern.search(text):
                problems.append(f"{url}: English {phrase!r}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:200])
