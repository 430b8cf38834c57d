"""Imports of the reward catalog: partners and rewards, created or updated from a file and matched on `code`.

A row whose code is new creates the partner or reward; a known code updates the columns the row fills in
(an empty cell leaves the value as it is) or, when nothing differs, is left unchanged. So the same file
imported twice changes nothing the second time, and an export from the admin can be edited and imported
back: its column names are these. Rewards name their partner and lowest tier by code, so partners are
imported before the rewards that use them.
"""

import re
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.importing import Column, ImportHandler, Outcome, Row, register
from loyalty_site.files.importing.cells import bool_cell, choice_lookup, code_cell
from loyalty_site.files.models import ImportJob
from loyalty_site.files.tabular import parse_datetime, parse_decimal
from loyalty_site.values import date_problem, decimal_problem, decimal_too_large, integer_problem, too_long
from members.phones import normalise_phone

from .categories import rewards_shelve
from .models import Partner, Reward, Tier, nip_is_valid, nip_normalise

CODE = re.compile(r"^[-A-Za-z0-9_]+$")

# What staff may write in the `kind` column besides the code: the Polish names (the catalogue's translations
# and the words a shop uses), so a file typed by hand in Polish is understood.
KIND_ALIASES = {
    "produkt (upominek)": Reward.Kind.PRODUCT,
    "produkt": Reward.Kind.PRODUCT,
    "upominek": Reward.Kind.PRODUCT,
    "nagroda rzeczowa": Reward.Kind.PRODUCT,
    "bon lub kod rabatowy": Reward.Kind.VOUCHER,
    "bon": Reward.Kind.VOUCHER,
    "kod rabatowy": Reward.Kind.VOUCHER,
    "kupon": Reward.Kind.VOUCHER,
    "rabat na kolejne zakupy": Reward.Kind.DISCOUNT,
    "rabat": Reward.Kind.DISCOUNT,
    "zniżka": Reward.Kind.DISCOUNT,
    "darmowa dostawa": Reward.Kind.FREE_DELIVERY,
    "atrakcja (wydarzenie, bilet)": Reward.Kind.EXPERIENCE,
    "atrakcja": Reward.Kind.EXPERIENCE,
    "wydarzenie": Reward.Kind.EXPERIENCE,
    "bilet": Reward.Kind.EXPERIENCE,
    "darowizna na cele charytatywne": Reward.Kind.DONATION,
    "darowizna": Reward.Kind.DONATION,
    "produkt gratis": Reward.Kind.PRODUCT,
    "bon kwotowy": Reward.Kind.VOUCHER,
    "kupon rabatowy": Reward.Kind.DISCOUNT,
    "oferta partnera": Reward.Kind.PARTNER_OFFER,
    "oferta partnerska": Reward.Kind.PARTNER_OFFER,
}


def kind_lookup() -> dict[str, str]:
    """Every accepted spelling of a reward kind, lower case: codes, English and Polish names, aliases."""
    return {**choice_lookup(Reward.Kind.choices), **KIND_ALIASES}


# --- Cells -----------------------------------------------------------------------------------------


def _code(outcome: Outcome, values: dict[str, str], seen: set, *, max_length: int, kind: str) -> str:
    def problem(code: str) -> str:
        if len(code) <= max_length and CODE.match(code):
            return ""
        return ngettext(
            "may hold only letters, digits, '-' and '_' (at most %(limit)d character)",
            "may hold only letters, digits, '-' and '_' (at most %(limit)d characters)",
            max_length,
        ) % {"limit": max_length}

    return code_cell(outcome, values, seen, kind=kind, problem=problem)


def _text(outcome: Outcome, values: dict[str, str], data: dict, column: str, model) -> None:
    """Text for the model field of the column's name; longer than the field holds is refused, never cut."""
    text = values.get(column, "")
    if not text:
        return
    if problem := too_long(model._meta.get_field(column), text):
        outcome.fail(column, text[:40], problem)
        return
    data[column] = text


def _whole_number(outcome: Outcome, values: dict[str, str], data: dict, column: str, model, *, minimum: int) -> None:
    text = values.get(column, "")
    if not text:
        return
    cleaned = text.replace("\xa0", "").replace(" ", "")
    if not cleaned.isascii() or not cleaned.isdigit():
        if minimum == 1:
            message = gettext("'%(value)s' is not a whole number greater than zero")
        else:
            message = gettext("'%(value)s' is not a whole number zero or more")
        outcome.fail(column, text, message % {"value": text})
        return
    number = int(cleaned)
    if number < minimum:
        if minimum == 1:
            message = gettext("'%(value)s' must be greater than zero")
        else:
            message = gettext("'%(value)s' must be zero or more")
        outcome.fail(column, text, message % {"value": text})
    elif problem := integer_problem(model._meta.get_field(column), number, text):
        outcome.fail(column, text, problem)
    else:
        data[column] = number


def _moment(outcome: Outcome, values: dict[str, str], data: dict, column: str, *, end_of_day: bool = False) -> None:
    """A date with an optional time, in the programme's time zone. With `end_of_day`, a date alone means
    the whole of that day (23:59:59): "available until 31.12.2026" includes New Year's Eve."""
    text = values.get(column, "")
    if not text:
        return
    try:
        moment = parse_datetime(text)
    except ValueError as exc:
        outcome.fail(column, text, str(exc))
        return
    if problem := date_problem(moment, text):
        outcome.fail(column, text, problem)
        return
    if end_of_day and ":" not in text:
        moment = datetime.combine(moment.date(), time(23, 59, 59))
    data[column] = timezone.make_aware(moment)


def _changes(instance, data: dict) -> dict:
    return {name: value for name, value in data.items() if getattr(instance, name) != value}


def _apply(model, outcomes: list[Outcome]) -> None:
    """Create the new rows and update the changed ones: one INSERT and one UPDATE, however many rows."""
    model.objects.bulk_create([model(code=o.data["code"], **o.data["fields"]) for o in outcomes if o.action == "new"])
    updated = [o for o in outcomes if o.action == "update"]
    if not updated:
        return
    now = timezone.now()
    instances = []
    for outcome in updated:
        instance = outcome.data["instance"]
        for name, value in outcome.data["changes"].items():
            setattr(instance, name, value)
        instance.updated_at = now  # bulk_update does not touch auto_now fields
        instances.append(instance)
    fields = sorted({name for o in updated for name in o.data["changes"]} | {"updated_at"})
    model.objects.bulk_update(instances, fields)


def _classify(outcome: Outcome, code: str, instance, data: dict) -> None:
    if outcome.action == "invalid":
        return
    changes = {}
    if instance is not None:
        changes = _changes(instance, data)
        outcome.action = "update" if changes else "skip"
    outcome.data = {"code": code, "instance": instance, "fields": data, "changes": changes}


# --- Partners --------------------------------------------------------------------------------------


class PartnerImport(ImportHandler):
    kind = "partners"
    label = _("Partners")
    permission = "rewards.add_partner"
    columns = [
        Column(
            "code",
            required=True,
            help=_("The partner's key: letters, digits, '-' and '_' (at most 30). Rows are matched on it."),
            example="kino-helios",
        ),
        Column("name", help=_("Required for a new partner."), example="Kino Helios"),
        Column("legal_name", help=_("The company's registered name."), example="Helios S.A."),
        Column("nip", help=_("Polish tax id: 10 digits, dashes and a PL prefix allowed."), example="123-456-32-18"),
        Column("email", help=_("Contact email; required for a new partner."), example="partnerzy@helios.pl"),
        Column("phone", help=_("+48221234567 or 22 123 45 67"), example="+48221234567"),
        Column("website", help=_("https:// is added when missing."), example="https://www.helios.pl"),
        Column("description", example="Sieć kin w całej Polsce"),
        Column("is_active", help=_("tak/nie; a new partner is active when empty."), example="tak"),
    ]

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set) -> list[Outcome]:
        codes = {row.values.get("code", "") for row in rows} - {""}
        existing = {partner.code: partner for partner in Partner.objects.filter(code__in=codes)}
        outcomes = []
        for row in rows:
            values = row.values
            outcome = Outcome(line=row.line, action="new")
            if extra := values.pop("__extra__", None):
                outcome.fail("", "", gettext("the row has more cells than the header (%(extra)s)") % {"extra": extra})
            code = _code(outcome, values, seen, max_length=Partner._meta.get_field("code").max_length, kind=self.kind)
            data = self._parse(values, outcome)
            partner = existing.get(code)
            if partner is None:
                for name in ("name", "email"):
                    if name not in data and not any(column == name for column, _v, _m in outcome.errors):
                        outcome.fail(name, "", gettext("is required for a new partner"))
            _classify(outcome, code, partner, data)
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def _parse(values: dict[str, str], outcome: Outcome) -> dict:
        data: dict = {}
        _text(outcome, values, data, "name", Partner)
        _text(outcome, values, data, "legal_name", Partner)
        _text(outcome, values, data, "description", Partner)
        if text := values.get("nip"):
            nip = nip_normalise(text)
            if nip_is_valid(nip):
                data["nip"] = nip
            else:
                outcome.fail(
                    "nip",
                    text,
                    gettext("'%(value)s' is not a valid NIP: 10 digits with a correct check digit") % {"value": text},
                )
        if text := values.get("email"):
            try:
                validate_email(text)
            except ValidationError:
                outcome.fail("email", text, gettext("'%(value)s' is not an email address") % {"value": text})
            else:
                if problem := too_long(Partner._meta.get_field("email"), text):
                    outcome.fail("email", text[:40], problem)
                else:
                    data["email"] = text.lower()
        if text := values.get("phone"):
            try:
                data["phone"] = normalise_phone(text)
            except ValueError as exc:
                outcome.fail("phone", text, str(exc))
        if text := values.get("website"):
            url = text if re.match(r"^https?://", text, re.IGNORECASE) else f"https://{text}"
            try:
                if too_long(Partner._meta.get_field("website"), url):
                    raise ValidationError("too long")
                URLValidator(schemes=["http", "https"])(url)
                data["website"] = url
            except ValidationError:
                outcome.fail(
                    "website",
                    text[:40],
                    gettext("'%(value)s' is not a web address (e.g. https://www.helios.pl)") % {"value": text[:40]},
                )
        bool_cell(outcome, values, data, "is_active")
        return data

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        _apply(Partner, outcomes)


# --- Rewards ---------------------------------------------------------------------------------------


class RewardImport(ImportHandler):
    kind = "rewards"
    label = _("Rewards (catalog)")
    permission = "rewards.add_reward"
    columns = [
        Column(
            "code",
            required=True,
            help=_("The reward's key: letters, digits, '-' and '_' (at most 40). Rows are matched on it."),
            example="kino-2-bilety",
        ),
        Column("name", help=_("Required for a new reward."), example="Dwa bilety do kina"),
        Column(
            "kind",
            help=_(
                "product, voucher, discount, free_delivery, experience, partner_offer or donation, or the Polish "
                "name (e.g. 'Bon kwotowy'). Required for a new reward."
            ),
            example="voucher",
        ),
        Column(
            "category",
            help=_("The catalog shelf members filter by, by name; created when there is none."),
            example="Kino i teatr",
        ),
        Column("points_cost", help=_("Whole points, more than zero. Required for a new reward."), example="1500"),
        Column("cash_value", help=_("What it is worth in PLN: 35,00 or 35.00."), example="58,00"),
        Column("partner", help=_("The partner's code; the partner must be imported first."), example="kino-helios"),
        Column(
            "min_tier",
            help=_("The code of the lowest tier that may get it; a new reward without it is open to all."),
            example="silver",
        ),
        Column("stock", help=_("How many are left, 0 or more; a new reward without it is unlimited."), example="200"),
        Column("per_member_limit", help=_("How many times one member may get it."), example="2"),
        Column("available_from", help=_("2026-03-01 or 01.03.2026, optionally with a time."), example="01.03.2026"),
        Column(
            "available_until",
            help=_("Like available_from; a date alone means the end of that day."),
            example="31.12.2026",
        ),
        Column("is_active", help=_("tak/nie; a new reward is active when empty."), example="tak"),
        Column("description", help=_("Shown to members."), example="Dwa bilety 2D na dowolny seans."),
        Column("terms", help=_("The conditions of use."), example="Ważne 3 miesiące od odbioru."),
    ]

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set) -> list[Outcome]:
        def column(name: str) -> set[str]:
            return {row.values.get(name, "") for row in rows} - {""}

        existing = {reward.code: reward for reward in Reward.objects.filter(code__in=column("code"))}
        partners = dict(Partner.objects.filter(code__in=column("partner")).values_list("code", "pk"))
        # Tiers are a handful: all of them, so an error can list the codes there are.
        tiers = dict(Tier.objects.values_list("code", "pk")) if column("min_tier") else {}
        kinds = kind_lookup()
        outcomes = []
        for row in rows:
            values = row.values
            outcome = Outcome(line=row.line, action="new")
            if extra := values.pop("__extra__", None):
                outcome.fail("", "", gettext("the row has more cells than the header (%(extra)s)") % {"extra": extra})
            code = _code(outcome, values, seen, max_length=Reward._meta.get_field("code").max_length, kind=self.kind)
            reward = existing.get(code)
            data = self._parse(values, outcome, kinds=kinds, partners=partners, tiers=tiers)
            if reward is None:
                for name in ("name", "kind", "points_cost"):
                    if name not in data and not any(c == name for c, _v, _m in outcome.errors):
                        outcome.fail(name, "", gettext("is required for a new reward"))
            self._check_period(values, data, reward, outcome)
            _classify(outcome, code, reward, data)
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def _parse(values: dict[str, str], outcome: Outcome, *, kinds: dict, partners: dict, tiers: dict) -> dict:
        data: dict = {}
        _text(outcome, values, data, "name", Reward)
        _text(outcome, values, data, "category", Reward)
        _text(outcome, values, data, "description", Reward)
        _text(outcome, values, data, "terms", Reward)
        if text := values.get("kind"):
            kind = kinds.get(text.lower())
            if kind is None:
                outcome.fail(
                    "kind",
                    text,
                    gettext("'%(value)s' is not a kind of reward: use %(kinds)s (or the Polish name)")
                    % {"value": text, "kinds": ", ".join(Reward.Kind.values)},
                )
            else:
                data["kind"] = kind
        _whole_number(outcome, values, data, "points_cost", Reward, minimum=1)
        if text := values.get("cash_value"):
            try:
                amount = parse_decimal(text)
                if amount < 0:
                    outcome.fail("cash_value", text, gettext("'%(value)s' must be zero or more") % {"value": text})
                elif problem := decimal_problem(Reward._meta.get_field("cash_value"), amount, text):
                    outcome.fail("cash_value", text, problem)
                else:
                    data["cash_value"] = amount
            except ValueError as exc:
                outcome.fail("cash_value", text, str(exc))
            except ArithmeticError:  # more digits than decimal arithmetic carries
                outcome.fail("cash_value", text, decimal_too_large(Reward._meta.get_field("cash_value"), text))
        if text := values.get("partner"):
            if text in partners:
                data["partner_id"] = partners[text]
            else:
                outcome.fail(
                    "partner",
                    text,
                    gettext("no partner with code '%(code)s' (import the partners first)") % {"code": text},
                )
        if text := values.get("min_tier"):
            if text in tiers:
                data["min_tier_id"] = tiers[text]
            else:
                known = ", ".join(tiers) or pgettext("tiers", "none yet")
                outcome.fail(
                    "min_tier",
                    text,
                    gettext("no tier with code '%(code)s' (the tiers are: %(known)s)") % {"code": text, "known": known},
                )
        _whole_number(outcome, values, data, "stock", Reward, minimum=0)
        _whole_number(outcome, values, data, "per_member_limit", Reward, minimum=1)
        _moment(outcome, values, data, "available_from")
        _moment(outcome, values, data, "available_until", end_of_day=True)
        bool_cell(outcome, values, data, "is_active")
        return data

    @staticmethod
    def _check_period(values: dict[str, str], data: dict, reward: Reward | None, outcome: Outcome) -> None:
        """The period the reward would have: the row's dates, or the ones it has for those the row leaves empty."""
        start = data.get("available_from", reward.available_from if reward else None)
        end = data.get("available_until", reward.available_until if reward else None)
        if start is None or end is None or end > start:
            return
        if "available_until" in data:
            shown = timezone.localtime(start).strftime("%d.%m.%Y %H:%M")
            text = values.get("available_until", "")
            outcome.fail(
                "available_until", text, gettext("must be later than available_from (%(start)s)") % {"start": shown}
            )
        else:
            shown = timezone.localtime(end).strftime("%d.%m.%Y %H:%M")
            text = values.get("available_from", "")
            outcome.fail(
                "available_from",
                text,
                gettext("must be earlier than the reward's available_until (%(end)s)") % {"end": shown},
            )

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        _apply(Reward, outcomes)
        # The category column also puts the reward on the catalog's shelf of that name (rewards.categories).
        texts = {}
        for outcome in outcomes:
            written = outcome.data["fields"] if outcome.action == "new" else outcome.data["changes"]
            if written.get("category"):
                texts[outcome.data["code"]] = written["category"]
        rewards_shelve(texts_by_code=texts)


register(PartnerImport())
register(RewardImport())
