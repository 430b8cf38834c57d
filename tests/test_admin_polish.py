"""The staff admin reads as Polish: every page a member of staff opens, in Polish, shows none of our own English
strings and none of Django's every-gender-at-once forms ("Dodaj kolejne(go)(-ną)(-ny)")."""

import contextlib
import html
import re
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.functional import Promise

pytestmark = pytest.mark.django_db

OUR_APPS = {"members", "rewards", "campaigns", "analytics", "files", "engagement", "login_throttle", "demo"}
GENERIC_FORMS = re.compile(r"\((?:a|go|i|-\w{1,6})\)")
# English that is also Polish, or names: allowed wherever it shows.
SAME_IN_BOTH = {"Status", "SKU", "NIP", "ID", "SMS", "E-mail", "Email", "OK", "CSV", "XLSX", "URL", "PLN", "RFM"}
# English msgids spelled like a Polish word shown on the same pages ("Profile w rankingu": profiles).
SAME_IN_BOTH |= {"Profile"}
# Not yet Polish, each with the branch that makes it so. Remove an entry once that branch is merged.
PENDING_ELSEWHERE = {
    # Ledger reasons stored as English sentences ("Points earned 2025-11-22 expired", "Purchase DEMO-1 (82.99
    # PLN)"): the `reasons` branch (issue 15) stores codes and renders them in the reader's language.
    "/admin/rewards/ledgerentry/": {"Points earned", "Points", "earned", "expired", "Purchase", "purchase"},
    "/admin/members/member/": {"Purchase", "Points earned", "Points", "earned", "expired", "purchase"},
}
# The names of the staff roles are Django auth groups the role migrations create and look up by name; the
# group and user pages show them as stored.
ROLE_NAMES = {"Programme manager", "Analyst", "Marketing", "Support"}
# Third-party admin pages whose own help texts their Polish catalogue lacks (django-celery-beat's "Day(s) Of The
# Month"): an English word there is the library's, not ours. Their generic forms are still checked, and our own
# strings around them (the navigation, the header) are checked on every other page.
THIRD_PARTY = ("/admin/django_celery_beat/",)


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


def _file_column_codes() -> set[str]:
    """The column names of our import and export files: codes of the file format (imports accept them), shown on
    purpose, either in <code> or in brackets after their Polish label ("Płeć (gender)")."""
    from import_export.admin import ExportMixin
    from import_export.resources import ModelResource

    codes = set()
    for model, model_admin in admin.site._registry.items():
        resource_classes = getattr(model_admin, "resource_classes", None) or []
        for resource_class in resource_classes:
            if issubclass(resource_class, ModelResource):
                codes |= {field.column_name for field in resource_class().get_export_fields()}
        if isinstance(model_admin, ExportMixin) and not resource_classes:
            codes |= {field.name for field in model._meta.concrete_fields}  # import-export's default resource
    return {code for code in codes if code}


def _visible_text(page: str, codes: set[str] = frozenset()) -> str:
    page = re.sub(r"(?is)<(script|style|textarea|svg|code)\b.*?</\1>", " ", page)
    # Django's permission names are stored in English when a migration creates them ("Can add member"); the
    # group and user pages list them in a select. Django's own limitation, not our string.
    page = re.sub(r'(?is)<select\b[^>]*name="(?:user_)?permissions(?:_old)?"[^>]*>.*?</select>', " ", page)
    page = re.sub(r"(?is)<option\b[^>]*>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    text = re.sub(r"\s+", " ", html.unescape(page))
    # A value to type, quoted the Polish way ("„email” lub „sms”"), is a literal, not English.
    text = re.sub(r"„[\w:/.-]+”", " ", text)
    if codes:
        text = re.sub(r"\((\w+)\)", lambda match: " " if match[1] in codes else match[0], text)
    return text


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
    codes = _file_column_codes()
    # A word inside an identifier (an idempotency key "event:joined:1", a file path "badges/x.png", a code
    # "member_number") is part of that identifier, not English.
    phrases = [(text, re.compile(r"(?<![\w:/.-])" + re.escape(text) + r"(?![\w:/.-])")) for text in english]
    data_names = set(get_user_model().objects.values_list("username", flat=True)) | ROLE_NAMES
    problems = []
    pages = _admin_pages()
    assert len(pages) > 60
    for url in pages:
        response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="pl")
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        text = _visible_text(response.content.decode(), codes)
        for name in sorted(data_names, key=len, reverse=True):
            text = re.sub(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", " ", text)
        pending = next((words for prefix, words in PENDING_ELSEWHERE.items() if url.startswith(prefix)), set())
        if match := GENERIC_FORMS.search(text):
            problems.append(f"{url}: generic form {text[max(0, match.start() - 40) : match.end() + 20]!r}")
        for phrase, pattern in phrases:
            if phrase in pending or url.startswith(THIRD_PARTY):
                continue
            if match := pattern.search(text):
                context = text[max(0, match.start() - 40) : match.end() + 40]
                problems.append(f"{url}: English {phrase!r} in {context!r}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:400])


def test_no_generic_gendered_forms_in_the_admin_messages():
    """Every message of Django's admin (and django-import-export's) whose Polish guesses all genders at once
    ("został(a)(-ło) dodany(-na)(-ne)") is overridden in our catalogue (loyalty_site/translation_overrides.py):
    messages after a save or a delete are not on the pages the walk above opens."""
    import django.contrib.admin
    import import_export

    guessing = []
    for package in (django.contrib.admin, import_export):
        for name in ("django.po", "djangojs.po"):
            path = Path(package.__file__).parent / "locale" / "pl" / "LC_MESSAGES" / name
            if not path.exists():
                continue
            for entry in polib.pofile(str(path)):
                forms = [entry.msgstr, *entry.msgstr_plural.values()]
                if any(GENERIC_FORMS.search(form) for form in forms):
                    guessing.append(entry)
    assert guessing, "Django's Polish no longer guesses genders: this test can go"
    still = []
    with translation.override("pl"):
        for entry in guessing:
            if entry.msgid_plural:
                shown = [translation.ngettext(entry.msgid, entry.msgid_plural, n) for n in (1, 2, 5)]
            elif entry.msgctxt:
                shown = [translation.pgettext(entry.msgctxt, entry.msgid)]
            else:
                shown = [translation.gettext(entry.msgid)]
            if any(GENERIC_FORMS.search(text) for text in shown):
                still.append(f"{entry.msgid!r}: {shown[0]!r}")
    assert not still, "\n".join(still)
