"""Prompt templates: versioned Markdown files in this folder, `<name>_<version>.md`.

A file has a `=== system ===` part and a `=== user ===` part (anything before the first
marker is a comment for maintainers). Values go in with `string.Template` (`${name}`), so
braces and JSON in a template need no escaping and values are never re-parsed. Change a
prompt by adding a new version: summaries are cached per prompt version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).resolve().parent
_MARKER = re.compile(r"^=== (system|user) ===[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: Template
    user: Template

    def messages(self, **values: object) -> list[dict[str, str]]:
        """The chat messages with every `${name}` filled in (a missing value raises KeyError)."""
        text = {key: str(value) for key, value in values.items()}
        return [
            {"role": "system", "content": self.system.substitute(text).strip()},
            {"role": "user", "content": self.user.substitute(text).strip()},
        ]


@cache
def load_prompt(name: str, version: str) -> PromptTemplate:
    """The template `<name>_<version>.md`; raises FileNotFoundError for an unknown one."""
    if not re.fullmatch(r"[a-z_]+", name) or not re.fullmatch(r"v\d+", version):
        raise ValueError(f"bad prompt name or version: {name!r} {version!r}")
    source = (PROMPTS_DIR / f"{name}_{version}.md").read_text(encoding="utf-8")
    parts = dict(_sections(source))
    if set(parts) != {"system", "user"}:
        raise ValueError(f"{name}_{version}.md needs one '=== system ===' and one '=== user ===' part")
    return PromptTemplate(name, version, Template(parts["system"]), Template(parts["user"]))


def _sections(source: str) -> list[tuple[str, str]]:
    markers = list(_MARKER.finditer(source))
    return [
        (marker.group(1), source[marker.end() : markers[index + 1].start() if index + 1 < len(markers) else None])
        for index, marker in enumerate(markers)
    ]
