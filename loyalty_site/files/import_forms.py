"""The forms staff fill in to import a file: the upload (what, which file, which consent text), the confirmation."""

from pathlib import PurePath

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from .importing import HANDLERS, ImportHandler

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
ALLOWED_EXTENSIONS = (".csv", ".xlsx")
# The tick box of a kind with a joining bonus; ticked, the job's options hold the handler's option name.
JOINING_BONUS_FIELD = "award_joining_bonus"


def may_import(user, kind: str) -> bool:
    """Staff may import a kind of file when they hold its handler's permission (superusers hold all)."""
    handler = HANDLERS.get(kind)
    if handler is None:
        return False
    return bool(user.is_active and user.is_staff and user.has_perm(handler.permission))


def importable_kinds(user) -> list[tuple[str, str]]:
    return [(kind, handler.label) for kind, handler in HANDLERS.items() if may_import(user, kind)]


def uses_source(handler: ImportHandler) -> bool:
    """A file with a `source` column (purchases, refunds) takes the form's source for rows that leave it empty."""
    return any(column.name == "source" for column in handler.columns)


def uses_lines_file(handler: ImportHandler) -> bool:
    """A kind whose lines may come as a second file (purchases): the upload form offers a second file."""
    return bool(handler.lines_columns)


def uses_joining_bonus(handler: ImportHandler) -> bool:
    """A kind that enrols members (the members import): the upload form asks whether they get the joining bonus."""
    return handler.joining_bonus_option is not None


def source_field() -> forms.RegexField:
    """The source system of rows whose 'source' column is empty, asked on upload and again on confirm."""
    return forms.RegexField(
        label=_("Source system"),
        regex=r"^[0-9A-Za-z_.\-]{1,30}$",
        max_length=30,
        required=False,
        help_text=_(
            "For rows whose 'source' column is empty, e.g. 'pos' or 'shop'. Purchases are matched on the source and "
            "the purchase number, so use the same source every time for the same system. Empty: 'import'."
        ),
        error_messages={"invalid": _("Use letters, digits, '-', '_' or '.' only (at most 30).")},
    )


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8, Windows-1250 or ISO-8859-2; columns separated by ';' or ',') or an Excel XLSX file, "
            "at most 200 MB. The first line holds the column names."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ALLOWED_EXTENSIONS)}),
    )
    lines_file = forms.FileField(
        label=_("Purchase lines file (optional)"),
        required=False,
        help_text=_(
            "The purchases' line items as a second file, one row per line with its purchase_id; the same formats as "
            "the purchases file. Leave it empty when the lines are in the purchases file or there are none."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ALLOWED_EXTENSIONS)}),
    )
    consent_version = forms.ChoiceField(
        label=_("Consent text version"),
        required=False,
        help_text=_("The wording the members agreed to. It is recorded with every consent the file grants."),
    )
    source = source_field()
    only_valid_rows = forms.BooleanField(
        label=_("Import only the valid rows"),
        required=False,
        help_text=_("Otherwise a file with any error imports nothing, and you can correct it and upload it again."),
    )
    award_joining_bonus = forms.BooleanField(
        label=_("Award the joining bonus to new members"),
        required=False,
        initial=False,
        help_text=_(
            "Tick it for members who join now. Leave it unticked for a history of members from another system: "
            "they joined long ago and get no joining bonus."
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = importable_kinds(user)
        # A file with consent columns records which wording members agreed to: the form asks for it, with the
        # versions its handler offers (None: the kind does not ask).
        chosen = HANDLERS.get(self.data.get("kind", "") if self.is_bound else self.selected_kind())
        versions = chosen.consent_versions() if chosen is not None else None
        self.asks_consent_version = versions is not None
        self.versions = versions or []
        self.fields["consent_version"].choices = [("", "---------"), *((v, v) for v in self.versions)]
        if self.versions:
            self.fields["consent_version"].initial = self.versions[0]
        if self.is_bound:
            # Options the chosen kind does not use are not validated (a field left over from another kind).
            handler = chosen
            if not self.asks_consent_version:
                del self.fields["consent_version"]
            if handler is None or not uses_source(handler):
                del self.fields["source"]
            if handler is None or not uses_lines_file(handler):
                del self.fields["lines_file"]
            if handler is None or not uses_joining_bonus(handler):
                del self.fields["award_joining_bonus"]

    def selected_kind(self) -> str:
        """The kind chosen (bound form) or preselected; the first one staff may import otherwise."""
        choices = [kind for kind, _label in self.fields["kind"].choices]
        kind = self.data.get("kind") if self.is_bound else self.initial.get("kind")
        return kind if kind in choices else (choices[0] if choices else "")

    def clean_file(self):
        return _checked_upload(self.cleaned_data["file"])

    def clean_lines_file(self):
        upload = self.cleaned_data.get("lines_file")
        return _checked_upload(upload) if upload else None

    def clean(self):
        cleaned = super().clean()
        if "consent_version" in self.fields and not cleaned.get("consent_version") and self.versions:
            self.add_error("consent_version", _("Choose the consent text version the members agreed to."))
        return cleaned

    def job_options(self) -> dict:
        """The job's options: only those the chosen kind uses, only when given (the joining bonus: ticked)."""
        options = {
            name: self.cleaned_data[name] for name in ("consent_version", "source") if self.cleaned_data.get(name)
        }
        if self.cleaned_data.get(JOINING_BONUS_FIELD):
            options[HANDLERS[self.cleaned_data["kind"]].joining_bonus_option] = True
        return options


def _checked_upload(upload):
    """An uploaded file staff may import: a CSV or XLSX, not empty, not too big."""
    extension = PurePath(upload.name).suffix.lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise forms.ValidationError(
            _("'%(name)s' is not a .csv or .xlsx file. Save it from the spreadsheet as CSV or XLSX."),
            code="extension",
            params={"name": upload.name},
        )
    if upload.size > MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            _("The file has %(size)s; at most %(limit)s can be imported at once. Split it into smaller files."),
            code="too_big",
            params={"size": filesizeformat(upload.size), "limit": filesizeformat(MAX_UPLOAD_BYTES)},
        )
    if not upload.size:
        raise forms.ValidationError(_("The file is empty."), code="empty")
    return upload


class ImportConfirmForm(forms.Form):
    """The confirmation of a previewed import; `only_valid_rows` must be acknowledged when it is chosen here."""

    source = source_field()
    only_valid_rows = forms.BooleanField(required=False)
    understood = forms.BooleanField(required=False)

    def __init__(self, *args, invalid_rows: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.invalid_rows = invalid_rows

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("only_valid_rows") and not cleaned.get("understood"):
            raise forms.ValidationError(
                _("Tick the box to confirm that the %(count)s rows with errors will not be imported."),
                code="not_understood",
                params={"count": self.invalid_rows},
            )
        return cleaned
