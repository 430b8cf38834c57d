"""A message template made ready to send: wrapped in the email layout, CSS inlined, placeholders compiled.

Done once per template and process (css-inline costs milliseconds; a batch of 500 shares it), then each
recipient costs only the substitution of their fields."""

import hashlib
import re
from dataclasses import dataclass

import css_inline
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from .models import MessageTemplate
from .personal import Compiled, compile_template

_LINK = re.compile(r'href="(https?://[^"]+)"')


@dataclass(frozen=True)
class RenderedTemplate:
    subject: Compiled
    text: Compiled
    html: Compiled
    html_tracked: Compiled  # links through the click redirect, with the open pixel
    fields: frozenset[str]


_cache: dict[tuple[int, str], RenderedTemplate] = {}


def template_links(html: str) -> list[str]:
    """The template's links in order: the click redirect finds a link by its number."""
    return _LINK.findall(html)


def _layout(template: MessageTemplate, *, tracked: bool) -> str:
    body = template.html
    if tracked:
        counter = iter(range(10_000))
        body = _LINK.sub(lambda m: f'href="{{{{ track_base }}}}/l/{next(counter)}/"', body)
    page = render_to_string(
        "emails/campaign.html",
        {
            "body": mark_safe(body),  # noqa: S308 - staff-written HTML, checked for placeholders on save
            "subject": template.subject,
            "marketing": template.purpose == MessageTemplate.Purpose.MARKETING,
            "tracked": tracked,
        },
    )
    return css_inline.inline(page)


def rendered_template(template: MessageTemplate) -> RenderedTemplate:
    digest = hashlib.blake2b(
        f"{template.subject}\0{template.text}\0{template.html}\0{template.purpose}".encode(), digest_size=8
    ).hexdigest()
    key = (template.pk, digest)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    subject = compile_template(template.subject)
    text = compile_template(template.text)
    if template.channel == "email":
        html = compile_template(_layout(template, tracked=False), internal=True)
        html_tracked = compile_template(_layout(template, tracked=True), internal=True)
    else:
        html = html_tracked = compile_template("")
    rendered = RenderedTemplate(
        subject, text, html, html_tracked, subject.fields | text.fields | html.fields | html_tracked.fields
    )
    if len(_cache) > 200:
        _cache.clear()
    _cache[key] = rendered
    return rendered
