"""FHIR token and reference search values: escaping, ``system|code``, patient references."""

from __future__ import annotations

import re
from dataclasses import dataclass

from patient_hub.fhir.common import decode_id
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.search.errors import SearchParamError


def split_escaped(value: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped by a backslash (FHIR escapes ``\\,``,
    ``\\|``, ``\\$`` and ``\\\\``); the escapes stay, for the next split (see unescape)."""
    parts, start, i = [], 0, 0
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == sep:
            parts.append(value[start:i])
            start = i + 1
        i += 1
    parts.append(value[start:])
    return parts


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def any_of(value: str) -> list[str]:
    """The alternatives of a comma-separated value, unescaped."""
    return [unescape(v) for v in split_escaped(value, ",")]


@dataclass(frozen=True, slots=True)
class Token:
    """``system|code`` (system given), ``|code`` (system "": no system) or ``code`` (any)."""

    system: str | None
    code: str

    def matches(self, system: str, code: str) -> bool:
        return code == self.code and (self.system is None or self.system == system)


def parse_token(value: str) -> Token:
    """``system|code`` (still escaped) -> Token."""
    pieces = [unescape(p) for p in split_escaped(value, "|")]
    if len(pieces) == 1:
        return Token(None, pieces[0])
    if len(pieces) == 2:
        return Token(pieces[0], pieces[1])
    raise SearchParamError(f"token {value!r} has more than one '|'")


def parse_patient_reference(value: str) -> str | None:
    """Our patient id behind ``Patient/ID``, ``ID`` or ``https://host/fhir/Patient/ID``; None
    when it names another resource type (no Observation of ours has such a subject)."""
    parts = value.rstrip("/").split("/")
    if len(parts) > 1 and parts[-2] != "Patient":
        return None
    try:
        return decode_id(parts[-1])
    except FhirMappingError:
        return None
