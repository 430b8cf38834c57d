"""The campaigns part of the demo: templates, segments, a sent A/B campaign with results, an SMS campaign in
the outbox, a scheduled campaign and journeys switched on. Sent in this process through the services (no
worker needed): mail goes to Django's in-memory backend, SMS to the outbox."""

import random
from datetime import time, timedelta

from django.db.models import Q
from django.test.utils import override_settings

from loyalty_site.demo.steps import DemoContext, register

from . import sending
from .models import Campaign, Delivery, Journey, MessageTemplate, Segment, SegmentMember, SegmentRule
from .services import campaign_create

EMAIL_HTML = (
    "<h1>Cześć {{ first_name|Kliencie }}!</h1>"
    "<p>Masz już <strong>{{ balance|0 }}</strong> punktów (poziom {{ tier|Start }}). "
    "Do poziomu {{ next_tier|wyższego }} brakuje Ci {{ points_to_next_tier|niewiele }}.</p>"
    "<p>Polecamy: <strong>{{ recommended_reward|nagrody z katalogu }}</strong>.</p>"
    '<p><a class="button" href="https://sklep.example.pl/promocje">Zobacz promocje tygodnia</a></p>'
)
TEMPLATES = [
    (
        "Newsletter: promocje tygodnia (A)",
        "email",
        "marketing",
        "{{ first_name|Drogi Kliencie }}, promocje tygodnia",
        EMAIL_HTML,
        "Cześć {{ first_name|Kliencie }}! Masz {{ balance|0 }} pkt. Promocje: https://sklep.example.pl/promocje",
    ),
    (
        "Newsletter: promocje tygodnia (B)",
        "email",
        "marketing",
        "-20% na kosmetyki dla Ciebie, {{ first_name|Kliencie }}",
        EMAIL_HTML.replace("promocje tygodnia", "kosmetyki -20%"),
        "Cześć {{ first_name|Kliencie }}! Kosmetyki -20% do niedzieli.",
    ),
    (
        "SMS: weekend -15%",
        "sms",
        "marketing",
        "",
        "",
        "{{ first_name|Hej }}, w weekend -15% na wszystko z kartą! Masz {{ balance|0 }} pkt. STOP na 8080",
    ),
    ("SMS: wyprzedaż", "sms", "marketing", "", "", "Wyprzedaz do -50% tylko w sobote! Odpowiedz STOP aby zrezygnowac."),
    (
        "Powitanie",
        "email",
        "marketing",
        "Witamy w programie, {{ first_name|Kliencie }}!",
        "<h1>Witamy, {{ first_name|Kliencie }}!</h1><p>Za każde wydane 1 zł dostajesz punkty.</p>",
        "Witamy w programie, {{ first_name|Kliencie }}!",
    ),
    (
        "Urodziny (SMS)",
        "sms",
        "marketing",
        "",
        "",
        "Wszystkiego najlepszego, {{ first_name|Kliencie }}! Czeka na Ciebie prezent w sklepie.",
    ),
    (
        "Punkty wygasają",
        "email",
        "marketing",
        "{{ points_expiring|Część }} punktów wygasa {{ points_expiring_date|wkrótce }}",
        "<h1>Nie trać punktów</h1><p>{{ points_expiring|Część }} punktów wygasa {{ points_expiring_date|wkrótce }}. "
        "Wymień je na {{ recommended_reward|nagrodę }}.</p>",
        "{{ points_expiring|Część }} punktów wygasa {{ points_expiring_date|wkrótce }}.",
    ),
    (
        "Nowy poziom",
        "email",
        "marketing",
        "Gratulacje, {{ first_name|Kliencie }}: poziom {{ tier|wyższy }}!",
        "<h1>Awans!</h1><p>Od dziś masz poziom {{ tier|wyższy }}.</p>",
        "Od dziś masz poziom {{ tier|wyższy }}.",
    ),
    (
        "Tęsknimy",
        "email",
        "marketing",
        "Dawno Cię nie było, {{ first_name|Kliencie }}",
        "<h1>Tęsknimy!</h1><p>Masz {{ balance|0 }} punktów do wykorzystania.</p>",
        "Masz {{ balance|0 }} punktów do wykorzystania.",
    ),
]


def _send_all(campaign: Campaign, *, launched_at, rng: random.Random) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING, launched_at=launched_at)
    batches: list[list[int]] = []
    previous = sending.enqueue_send
    sending.enqueue_send = batches.append
    try:
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", SMS_BACKEND="outbox"):
            sending.campaign_fanout(campaign_id=campaign.pk)
            for batch in batches:
                sending.deliveries_send(delivery_ids=batch)
    finally:
        sending.enqueue_send = previous
    # Back-date to the launch, so the results count the purchases of the days after it; some opened and clicked.
    sent = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT)
    sent.update(sent_at=launched_at + timedelta(minutes=3), created_at=launched_at)
    Delivery.objects.filter(campaign=campaign).exclude(status=Delivery.Status.SENT).update(created_at=launched_at)
    if campaign.channel == "email":
        ids = list(sent.values_list("pk", flat=True))
        opened = rng.sample(ids, len(ids) * 2 // 5)
        Delivery.objects.filter(pk__in=opened).update(opened_at=launched_at + timedelta(hours=2))
        Delivery.objects.filter(pk__in=opened[: len(opened) // 3]).update(clicked_at=launched_at + timedelta(hours=2))
    Campaign.objects.filter(pk=campaign.pk).update(finished_at=launched_at + timedelta(minutes=5))


def seed(ctx: DemoContext) -> None:
    from members.models import Member

    rng = random.Random(ctx.seed + 13)
    templates = {}
    for name, channel, purpose, subject, html, text in TEMPLATES:
        templates[name] = MessageTemplate.objects.create(
            name=name, channel=channel, purpose=purpose, subject=subject, html=html, text=text
        )
    email_subscribers = Segment.objects.create(name="Subskrybenci e-mail", description="Zgoda na e-mail marketing.")
    SegmentRule.objects.create(segment=email_subscribers, kind="consent", operator="granted", value="email")
    sms_subscribers = Segment.objects.create(name="Subskrybenci SMS")
    SegmentRule.objects.create(segment=sms_subscribers, kind="consent", operator="granted", value="sms")
    lapsed = Segment.objects.create(name="Uśpieni (60+ dni bez zakupu) lub złoty poziom")
    SegmentRule.objects.create(segment=lapsed, group=1, kind="days_since_purchase", operator="gte", value="60")
    SegmentRule.objects.create(segment=lapsed, group=1, kind="consent", operator="granted", value="email")
    SegmentRule.objects.create(segment=lapsed, group=2, kind="tier", operator="eq", value="gold")
    vip = Segment.objects.create(name="Lista VIP (z pliku)", kind=Segment.Kind.STATIC)
    vip_ids = list(Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").values_list("pk", flat=True)[:25])
    SegmentMember.objects.bulk_create([SegmentMember(segment=vip, member_id=pk) for pk in vip_ids])

    newsletter = campaign_create(
        name="Newsletter: promocje tygodnia (test A/B)",
        channel="email",
        segment=email_subscribers,
        templates=[
            (templates["Newsletter: promocje tygodnia (A)"], 50),
            (templates["Newsletter: promocje tygodnia (B)"], 50),
        ],
        control_percent=10,
        attribution_days=7,
    )
    _send_all(newsletter, launched_at=ctx.now - timedelta(days=14, hours=-10), rng=rng)
    weekend = campaign_create(
        name="SMS: weekend -15%",
        channel="sms",
        segment=sms_subscribers,
        templates=[(templates["SMS: weekend -15%"], 100)],
        control_percent=5,
        quiet_start=time(21, 0),
        quiet_end=time(9, 0),
    )
    _send_all(weekend, launched_at=ctx.now - timedelta(days=6, hours=-11), rng=rng)
    campaign_create(
        name="SMS: wyprzedaż w sobotę",
        channel="sms",
        segment=sms_subscribers,
        templates=[(templates["SMS: wyprzedaż"], 100)],
        scheduled_at=ctx.now + timedelta(days=2, hours=10),
        quiet_start=time(21, 0),
        quiet_end=time(9, 0),
        cap_messages=3,
        cap_days=7,
        status=Campaign.Status.SCHEDULED,
    )
    campaign_create(
        name="Powrót uśpionych klientów (szkic)",
        channel="email",
        segment=lapsed,
        templates=[(templates["Tęsknimy"], 100)],
    )

    for code, name in [
        (Journey.Code.WELCOME, "Powitanie"),
        (Journey.Code.BIRTHDAY, "Urodziny (SMS)"),
        (Journey.Code.POINTS_EXPIRING, "Punkty wygasają"),
        (Journey.Code.TIER_UPGRADE, "Nowy poziom"),
        (Journey.Code.WIN_BACK, "Tęsknimy"),
    ]:
        Journey.objects.filter(code=code).update(enabled=True, template=templates[name])
    counts = Delivery.objects.filter(Q(campaign=newsletter) | Q(campaign=weekend)).values_list("status")
    ctx.log(
        f"Campaigns: {len(TEMPLATES)} templates, 4 segments, 2 sent campaigns ({counts.count()} deliveries), "
        "1 scheduled, 1 draft, 5 journeys on"
    )


register("campaigns", seed, order=50)
