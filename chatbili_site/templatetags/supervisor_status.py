"""`{% supervisor_status %}`: runsite's supervised components on the admin's home page (issue 18)."""

from __future__ import annotations

from django import template
from django.conf import settings

from chatbili_site.supervisor import read_state

register = template.Library()


@register.inclusion_tag("admin/supervisor_status.html")
def supervisor_status() -> dict:
    state = read_state(settings.SUPERVISOR_STATE_FILE)
    if state is None:
        return {"supervised": False}
    components = state["components"]
    degraded = state["stale"] or any(c["crash_loop"] or not c["running"] for c in components)
    return {"supervised": True, "degraded": degraded, "stale": state["stale"], "components": components}
