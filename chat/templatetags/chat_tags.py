"""Template filters for generated text: stored Markdown as sanitized HTML (chat.rendering)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from chat.rendering import markdown_html

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown → HTML sanitized by nh3: safe to output as is."""
    return mark_safe(markdown_html(text))  # noqa: S308 - nh3 has sanitized it


@register.filter
def seconds(ms: int) -> int:
    return max(0, int(ms or 0)) // 1000
