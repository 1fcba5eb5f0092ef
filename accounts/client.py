"""The client's address: REMOTE_ADDR, or a header that the site's own reverse proxy sets.

Only the header named by TRUSTED_CLIENT_IP_HEADER is believed (e.g. `X-Real-IP`, or
`X-Forwarded-For`, whose right-most entry is the one the nearest proxy saw); with no setting,
any forwarding header a client sends is ignored. Sign-in lockouts (django-axes) and the sign-up
throttle both read the address from here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def client_ip(request: Any) -> str | None:
    """The request's client address as text, or None when there is no valid one."""
    header = settings.TRUSTED_CLIENT_IP_HEADER
    value = request.META.get("REMOTE_ADDR", "")
    if header:
        forwarded = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if entries:
            value = entries[-1]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
