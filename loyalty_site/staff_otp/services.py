"""Second-factor devices of a staff user: set up a TOTP app, confirm it, and issue recovery codes."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery"


def totp_device_pending(*, user: AbstractBaseUser) -> TOTPDevice:
    """The user's unconfirmed TOTP device, created once: reloading the set-up page keeps the same secret."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


@transaction.atomic
def totp_device_confirm(*, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the device with a code from the app; returns fresh recovery codes, or None if the code is wrong.

    Any other TOTP device of the user goes: one app at a time, so a lost phone is replaced, not kept."""
    if not device.verify_token(token):
        return None
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return recovery_codes_issue(user=device.user)


@transaction.atomic
def recovery_codes_issue(*, user: AbstractBaseUser) -> list[str]:
    """New one-time recovery codes; the old ones stop working. Shown once, stored as django-otp keeps them."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def has_confirmed_totp(*, user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@transaction.atomic
def second_factor_reset(*, user: AbstractBaseUser) -> None:
    """Drop the user's apps and recovery codes (a lost phone): the next sign-in sets up a new app."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
