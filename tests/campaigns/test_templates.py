"""Templates: only offered fields, with fallbacks; rendering, the SMS length rules, the admin refusal."""

import pytest

from campaigns.forms import MessageTemplateForm
from campaigns.models import MessageTemplate
from campaigns.personal import compile_template, template_problems
from campaigns.services import CampaignError, message_template_save
from campaigns.sms import sms_length

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "text",
    [
        "Cześć {{ email }}",
        "{{ member.user.password }}",
        "{% load static %}hi",
        "{{ first_name|upper }}{% if x %}{% endif %}",
        "{{ settings.SECRET_KEY }}",
        "{# comment #}",
    ],
)
def test_a_template_with_anything_but_offered_fields_is_refused_with_a_clear_message(text):
    with pytest.raises(CampaignError) as refused:
        message_template_save(
            template=MessageTemplate(name="x", channel="email", subject="Hej", html="<p>x</p>", text=text)
        )
    assert "not" in str(refused.value)
    assert not MessageTemplate.objects.exists()


def test_the_admin_form_names_the_field_and_lists_what_is_offered():
    form = MessageTemplateForm(
        data={
            "name": "x",
            "channel": "sms",
            "purpose": "marketing",
            "text": "Hej {{ pesel }}",
            "subject": "",
            "html": "",
        }
    )
    assert not form.is_valid()
    assert "“pesel” is not a field we offer" in form.errors["text"][0]
    assert "first_name" in form.errors["text"][0]


def test_offered_fields_render_with_fallbacks_and_html_escaping():
    compiled = compile_template("Hej {{ first_name|Kliencie }}, masz {{ balance|0 }} pkt {{ tier }}")
    assert template_problems("Hej {{ first_name|Kliencie }}") == []
    assert compiled.render({"first_name": "Ola"}, escape=False) == "Hej Ola, masz 0 pkt "
    assert compiled.render({"first_name": "<b>"}, escape=True).startswith("Hej &lt;b&gt;")


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # the euro sign takes two GSM-7 units
        ("ą" + "a" * 69, "UCS-2", 1),
        ("ą" + "a" * 70, "UCS-2", 2),
        ("Zażółć gęślą jaźń " * 8, "UCS-2", 3),  # 144 characters: 3 parts of 67
        ("", "GSM-7", 0),
    ],
)
def test_sms_length_knows_polish_letters_force_ucs2(text, encoding, parts):
    length = sms_length(text)
    assert (length.encoding, length.parts) == (encoding, parts)


def test_sms_length_names_the_characters_that_force_ucs2():
    assert sms_length("Dzień dobry").forcing_ucs2 == "ń"
