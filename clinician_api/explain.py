"""Rule explanations (``telemed_core.explanations``) in the reader's language, for what the
server renders itself (the PDF report); the screens do the same in ``common.js`` ``explain``."""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from clinician_api.i18n import catalogue
from telemed_core.explanations import KIND_NAMES, TEMPLATES

_FIELD = re.compile(r"\{(\w+)\}")
#: As the screens show a time (Intl medium date, short time): "1. 12. 2026 7:30".
_DATE_TIME = {"cs": "d. M. y H:mm", "en": "MMM d, y, h:mm a"}


def _value(name: str, v: Any, messages: dict[str, str], language: str, zone: tzinfo) -> str:
    if name.endswith("_note"):
        return (render_explanation(v.get("key"), v.get("args"), language, zone) or "") if v else ""
    if v is None:
        return "–"
    if name == "kind" or name.endswith("_kind"):
        word = KIND_NAMES.get(str(v), str(v).replace("_", " "))
        return messages.get(word, word)
    if name.endswith("_text"):
        return messages.get(str(v), str(v))
    if name.endswith("_at"):
        at = datetime.fromisoformat(str(v)).astimezone(zone)
        return format_datetime(at, _DATE_TIME.get(language, "medium"), locale=language)
    if name.endswith("_date"):
        return format_date(date.fromisoformat(str(v)), "medium", locale=language)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return format_decimal(v, format="#,##0.##", locale=language)
    return str(v)


def render_explanation(
    key: str | None, args: dict[str, Any] | None, language: str, zone: tzinfo
) -> str | None:
    """The explanation of ``key`` with ``args`` in ``language`` (dates in ``zone``); None when
    there is no such key (a finding stored before keys existed: show its English text)."""
    template = TEMPLATES.get(key or "")
    if template is None:
        return None
    messages = catalogue(language)
    values = args or {}
    local = messages.get(template, template)
    out = _FIELD.sub(
        lambda m: _value(m.group(1), values.get(m.group(1)), messages, language, zone), local
    )
    # A sentence that opens with a kind's name ("heart rate 131 is ...") starts with a capital.
    return out[:1].upper() + out[1:] if local.startswith("{kind}") else out
