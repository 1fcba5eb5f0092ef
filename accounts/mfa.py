"""Second factors with django-otp: a TOTP app and single-use recovery codes.

A user turns TOTP on in two steps: `totp_start` makes an unconfirmed device (its QR code is shown),
`totp_confirm` checks one code from the app, confirms it and makes RECOVERY_CODE_COUNT recovery
codes (a StaticDevice; each code works once). Signing in then needs a code from either:
`mfa_verify`. django-otp throttles each device (growing delays after failures).
"""

from __future__ import annotations

import base64
from typing import Any

import segno
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.errors import MFA_CODE_INVALID
from core.errors import AppError

RECOVERY_CODE_COUNT = 10
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"


@transaction.atomic
def totp_start(*, user: Any) -> TOTPDevice:
    """A new unconfirmed TOTP device for the user (an earlier unconfirmed one is dropped)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def totp_pending(*, user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def totp_qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an inline SVG QR code."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#222", light="#fff")


def totp_confirm(*, user: Any, code: str) -> list[str]:
    """Confirm the pending TOTP device with one of its codes; returns new recovery codes.

    AppError mfa_code_invalid when there is no pending device or the code is wrong (the failure
    counts towards the device's throttle: it is saved before the error is raised)."""
    device = totp_pending(user=user)
    if device is None or not device.verify_token(_clean(code)):
        raise AppError(MFA_CODE_INVALID)
    return _totp_make_current(user=user, device=device)


@transaction.atomic
def _totp_make_current(*, user: Any, device: TOTPDevice) -> list[str]:
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return recovery_codes_renew(user=user)


@transaction.atomic
def recovery_codes_renew(*, user: Any) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones (shown once)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(*, user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def mfa_disable(*, user: Any) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def mfa_verify(*, user: Any, code: str) -> Any:
    """The confirmed device that accepts `code` (a TOTP code, else a recovery code, used up);
    AppError mfa_code_invalid otherwise. Each device's own throttle applies."""
    device = _device_accepting(user=user, code=_clean(code))
    if device is None:
        raise AppError(MFA_CODE_INVALID)
    return device


@transaction.atomic
def _device_accepting(*, user: Any, code: str) -> Any:
    """Committed either way, so a failure's throttle step is kept."""
    if code.isdigit():
        devices = list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True))
    else:
        devices = list(StaticDevice.objects.select_for_update().filter(user=user, confirmed=True))
    for device in devices:
        if device.verify_is_allowed()[0] and device.verify_token(code):
            return device
    return None


def _clean(code: str) -> str:
    return "".join((code or "").split()).lower()[:32]


def totp_confirmed(*, user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_secret(device: TOTPDevice) -> str:
    """The key in base32, for typing into an app that cannot scan the QR code."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")
