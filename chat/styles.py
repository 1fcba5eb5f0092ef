"""Summary styles: the catalogue, custom templates' validation, style keys and styled prompts.

A request names a style: "brief", "standard" (today's summary), "study" (study notes:
definitions, steps, formulas), "qa" (questions and answers) or "custom:<template id>", one of
the requester's saved templates (`SummaryTemplate`). The style joins the summary's cache key as
its *style key*: a built-in style's name, or "custom:<id>:<hash of the template text>", so
editing a template makes a new cache entry.

    key = style_key(style="custom:12", user=request.user)   # bad_style 422, template_not_found 404
    prompt = style_prompt(key, language="zh")              # the texts a generation adds
    messages = styled_messages(messages, prompt, phase="summary")

"standard" changes nothing. The other styles add their text (chat/prompts/style_<name>_v1.md)
to the system prompt. A custom template is user text: it goes in the user message inside
<summary_template>, the transcript inside <video_data>, each escaped so it cannot close its tag,
and the system text says both are data. A built-in style's text is part of the prompt: change it
the way any prompt is changed, with a new SUMMARY_PROMPT_VERSION (cache entries are per version).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from string import Template
from typing import Any, Literal

from django.db.models import QuerySet

from chat.errors import BAD_STYLE, BAD_TEMPLATE, TEMPLATE_NOT_FOUND, TEMPLATE_TOO_LONG
from chat.models import SummaryTemplate
from chat.prompts import PROMPTS_DIR
from core.errors import AppError

STANDARD = "standard"
STYLES = ("brief", STANDARD, "study", "qa")  # the built-in styles
CUSTOM_PREFIX = "custom:"
STYLE_VERSION = "v1"
TEMPLATE_MAX_CHARS = 2000
TEMPLATE_NAME_MAX_CHARS = 100
TEMPLATE_HASH_CHARS = 12
# The placeholders a template may use, and what fills them.
PLACEHOLDERS = ("title", "part_title", "language")
LANGUAGE_NAMES = {"zh": "简体中文", "en": "English", "auto": "the transcript's own language"}
# Headings of the sections styles add: zh (and auto), en. Each starts with its Chinese name.
HEADINGS = {
    "definitions_heading": ("概念与定义", "概念与定义 Definitions"),
    "steps_heading": ("步骤", "步骤 Steps"),
    "formulas_heading": ("公式", "公式 Formulas"),
    "qa_heading": ("问答", "问答 Q&A"),
    "custom_heading": ("自定义笔记", "自定义笔记 Custom notes"),
}
_DATA_TAGS = re.compile(r"<(\s*/?\s*(?:summary_template|video_data))", re.IGNORECASE)
_SECTION = re.compile(r"^=== (summary|map|data) ===[ \t]*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{[^{}]*\}|\{|\}")
_CUSTOM_KEY = re.compile(r"custom:(\d+):([0-9a-f]+)")

Phase = Literal["summary", "map"]


# --- names and keys -------------------------------------------------------------------------------


def style_name(style_key_or_request: str) -> str:
    """The catalogue name of a requested style or a style key: "custom" for any template."""
    return "custom" if style_key_or_request.startswith(CUSTOM_PREFIX) else style_key_or_request


def style_names() -> str:
    return ", ".join([*STYLES, CUSTOM_PREFIX + "<id>"])


def custom_template_id(style: str) -> int | None:
    """The template id of "custom:<id>", None for a built-in style; bad_style for anything else."""
    if style in STYLES:
        return None
    match = re.fullmatch(r"custom:([1-9]\d{0,17})", style)
    if match is None:
        raise AppError(BAD_STYLE, details={"styles": [*STYLES, "custom:<id>"]}, style=style, styles=style_names())
    return int(match.group(1))


def template_hash(instructions: str) -> str:
    return hashlib.sha256(instructions.encode("utf-8")).hexdigest()[:TEMPLATE_HASH_CHARS]


def style_key(*, style: str, user: Any) -> str:
    """The cache key's style for a request: the built-in name, or "custom:<id>:<hash>" of one of
    the user's templates (anyone else's, or none, is template_not_found). With no user (the
    operator: CLI, admin) any template may be used."""
    template_id = custom_template_id(style)
    if template_id is None:
        return style
    if user is None:
        template = SummaryTemplate.objects.filter(pk=template_id).first()
        if template is None:
            raise AppError(TEMPLATE_NOT_FOUND)
    else:
        template = summary_template_get_for_user(user=user, template_id=template_id)
    return f"{CUSTOM_PREFIX}{template.pk}:{template_hash(template.instructions)}"


def style_request(key: str) -> str:
    """The style to ask for again what a style key was made with: "custom:<id>" for a template."""
    match = _CUSTOM_KEY.fullmatch(key)
    return f"{CUSTOM_PREFIX}{match.group(1)}" if match else key


# --- custom templates: validation and reads ---------------------------------------------------------


def template_validate(instructions: str) -> list[str]:
    """The placeholders a template uses; template_too_long or bad_template (the offending text in
    `placeholder`) when it cannot be used. `{{` and `}}` are literal braces."""
    if len(instructions) > TEMPLATE_MAX_CHARS:
        raise AppError(TEMPLATE_TOO_LONG, length=len(instructions), limit=TEMPLATE_MAX_CHARS)
    used: list[str] = []
    for match in _PLACEHOLDER.finditer(instructions):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = token[1:-1] if len(token) > 1 else ""
        if name not in PLACEHOLDERS:
            bad = token if len(token) > 1 else instructions[match.start() : match.start() + 20]
            allowed = ", ".join("{" + placeholder + "}" for placeholder in PLACEHOLDERS)
            raise AppError(
                BAD_TEMPLATE,
                details={"placeholder": bad, "allowed": list(PLACEHOLDERS)},
                placeholder=bad,
                allowed=allowed,
            )
        if name not in used:
            used.append(name)
    return used


def template_fill(instructions: str, values: dict[str, str]) -> str:
    """The template with its placeholders filled in (values are not parsed again)."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        return token[0] if token in ("{{", "}}") else values.get(token[1:-1], token)

    return _PLACEHOLDER.sub(fill, instructions)


def summary_templates_for_user(user: Any) -> QuerySet[SummaryTemplate]:
    """The user's templates, newest first."""
    return SummaryTemplate.objects.filter(owner=user).order_by("-created_at", "-id")


def summary_template_get_for_user(*, user: Any, template_id: int) -> SummaryTemplate:
    """One of the user's templates; anyone else's looks exactly like a missing one."""
    template = None
    if user is not None and getattr(user, "is_authenticated", False):
        template = SummaryTemplate.objects.filter(pk=template_id, owner=user).first()
    if template is None:
        raise AppError(TEMPLATE_NOT_FOUND)
    return template


# --- prompts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StylePrompt:
    """What a style adds to the summary's prompts ("" adds nothing)."""

    name: str
    summary_text: str = ""
    map_text: str = ""
    data_text: Template | None = None  # custom: the user message around the template and the transcript
    template_text: str = ""  # custom: the template, placeholders filled, tags escaped


@cache
def style_sections(name: str) -> dict[str, str]:
    """The sections of chat/prompts/style_<name>_v1.md (summary, map, data)."""
    source = (PROMPTS_DIR / f"style_{name}_{STYLE_VERSION}.md").read_text(encoding="utf-8")
    markers = list(_SECTION.finditer(source))
    return {
        marker.group(1): source[marker.end() : markers[index + 1].start() if index + 1 < len(markers) else None].strip()
        for index, marker in enumerate(markers)
    }


def style_prompt(key: str, *, language: str, headings: tuple[str, str], video: dict[str, str]) -> StylePrompt:
    """The texts a style key adds, in the summary's language. `headings` are the summary's
    (abstract, key points) headings, `video` the values templates may use (title, part_title).
    A custom key whose template was deleted or edited since is template_not_found."""
    name = style_name(key)
    if name == STANDARD:
        return StylePrompt(STANDARD)
    english = language == "en"
    values = {"abstract_heading": headings[0], "points_heading": headings[1]}
    values |= {name: pair[1 if english else 0] for name, pair in HEADINGS.items()}
    sections = style_sections(name)
    summary_text = Template(sections["summary"]).substitute(values)
    map_text = Template(sections.get("map", "")).substitute(values)
    if name != "custom":
        return StylePrompt(name, summary_text, map_text)
    template = _custom_template(key)
    filled = template_fill(template.instructions, {**video, "language": LANGUAGE_NAMES[language]})
    data = Template(Template(sections["data"]).safe_substitute(values))
    return StylePrompt(name, summary_text, "", data, escape_data(filled))


def _custom_template(key: str) -> SummaryTemplate:
    match = _CUSTOM_KEY.fullmatch(key)
    template = SummaryTemplate.objects.filter(pk=int(match.group(1))).first() if match else None
    if template is None or template_hash(template.instructions) != match.group(2):
        raise AppError(TEMPLATE_NOT_FOUND)
    return template


def escape_data(text: str) -> str:
    """Text that cannot open or close the prompt's data tags (their `<` becomes `‹`)."""
    return _DATA_TAGS.sub(r"‹\1", text)


def styled_messages(messages: list[dict], prompt: StylePrompt | None, *, phase: Phase) -> list[dict]:
    """The prompt's messages with the style's texts added (unchanged for "standard")."""
    if prompt is None:
        return messages
    addition = prompt.summary_text if phase == "summary" else prompt.map_text
    styled = [dict(message) for message in messages]
    if addition:
        styled[0]["content"] = f"{styled[0]['content']}\n\n{addition}"
    if phase == "summary" and prompt.data_text is not None:
        user = styled[-1]["content"]
        styled[-1]["content"] = prompt.data_text.substitute(
            template=prompt.template_text, video_data=escape_data(user)
        ).strip()
    return styled
