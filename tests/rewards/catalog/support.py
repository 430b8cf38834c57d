"""Helpers of the reward catalog and partner tests (their fixtures are in conftest.py)."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty_site.files.importing import import_job_create, import_preview
from loyalty_site.files.models import ImportJob, ImportRowError
from rewards.models import Reward
from tests.factories import RewardFactory


def make_reward(code="kino-2-bilety", **kwargs) -> Reward:
    return RewardFactory(code=code, **{"name": "Dwa bilety do kina", **kwargs})


def run_import(kind: str, content: bytes, user, *, name: str | None = None, only_valid_rows=False) -> ImportJob:
    name = name or f"{kind}.csv"
    job = import_job_create(
        kind=kind, file=SimpleUploadedFile(name, content), name=name, user=user, only_valid_rows=only_valid_rows
    )
    return import_preview(job=job)


def errors_of(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(ImportRowError.objects.filter(job=job).order_by("line", "id").values_list("line", "column", "message"))


PARTNERS = (
    "code;name;legal_name;nip;email;phone;website;is_active\n"
    "kino-helios;Kino Helios;Helios S.A.;PL 123-456-32-18;Partnerzy@Helios.pl;22 123 45 67;www.helios.pl;tak\n"
    "ksiegarnia;Księgarnia Świat Książki;;;kontakt@swiatksiazki.pl;;;\n"
)


REWARDS_HEADER = "code;name;kind;category;points_cost;cash_value;partner;min_tier;stock;available_from;available_until"


REWARDS = (
    f"{REWARDS_HEADER}\n"
    "kino-2-bilety;Dwa bilety do kina;voucher;Kino;1500;58,00;kino-helios;silver;200;01.03.2026;31.12.2026\n"
    "kubek;Kubek z logo;Produkt (upominek);Gadżety;300;1 234,50;;;;;\n"
    "fundacja;Darowizna dla schroniska;darowizna;Pomagamy;500;;;;;2026-01-01 08:00;\n"
)


def export_csv(client, url_name: str, query: str = "") -> list[dict]:
    url = reverse(url_name) + query
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    formats = {title: value for value, title in form.fields["format"].choices if value != ""}
    data = {"format": formats["csv"], "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)})
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
