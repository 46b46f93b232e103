"""The kind -> LOINC / MDC / UCUM map, loaded from the top-level ``fhir/codes.json``.

The JSON file is the single source of the codes (it is a conformance artefact that reviewers
read without Python). This module turns it into small frozen types and answers two questions:
what codes a measurement kind gets (:func:`codes_for`) and which kind a Coding means
(:func:`kind_for_coding`, LOINC or MDC).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from patient_hub.fhir.errors import FhirMappingError

#: ``fhir/codes.json`` at the repository root (``patient_hub/fhir/`` is two levels below it).
CODES_PATH = Path(__file__).resolve().parents[2] / "fhir" / "codes.json"


@dataclass(frozen=True, slots=True)
class Code:
    """One Coding: ``system`` URI, ``code`` and an optional ``display``."""

    system: str
    code: str
    display: str | None = None

    def coding(self) -> dict[str, str]:
        """The FHIR Coding as a JSON dict."""
        out = {"system": self.system, "code": self.code}
        if self.display:
            out["display"] = self.display
        return out


@dataclass(frozen=True, slots=True)
class KindCodes:
    """The codes of one measurement kind.

    ``loinc`` is None for kinds that are not vital signs and have no verified LOINC code;
    ``category`` is an observation-category code (``vital-signs``, ``laboratory``) or None;
    ``profile`` is the FHIR Vital Signs profile URL the Observation claims, or None.
    """

    kind: str
    display: str
    loinc: Code | None
    loinc_extra: tuple[Code, ...]
    mdc: Code
    mdc_aliases: tuple[Code, ...]
    ucum: str
    unit_display: str
    category: str | None
    profile: str | None

    @property
    def is_vital_sign(self) -> bool:
        return self.category == "vital-signs"

    def codings(self, mdc: Code | None = None) -> list[dict[str, str]]:
        """``code.coding``: LOINC first (what generic clients read), extra LOINC, then MDC (PHD).

        ``mdc`` overrides the kind's MDC code (e.g. pulse rate from a BP cuff, 149546).
        """
        codes = [*([self.loinc] if self.loinc else []), *self.loinc_extra, mdc or self.mdc]
        return [c.coding() for c in codes]


@dataclass(frozen=True, slots=True)
class CodeMap:
    """Everything in ``codes.json``, indexed for look-ups both ways."""

    kinds: Mapping[str, KindCodes]
    systems: Mapping[str, str]
    local: Mapping[str, str]
    profiles: Mapping[str, str]
    extensions: Mapping[str, str]
    raw: Mapping[str, Any]
    _by_coding: Mapping[tuple[str, str], str]

    def kind(self, kind: str) -> KindCodes:
        """The codes of ``kind``; FhirMappingError for a kind the map does not know."""
        try:
            return self.kinds[str(kind)]
        except KeyError:
            raise FhirMappingError(f"no FHIR codes for kind {kind!r}") from None

    def kind_for_coding(self, system: str | None, code: str | None) -> str | None:
        """The kind a (system, code) pair means, or None when it is not one of ours."""
        if system is None or code is None:
            return None
        return self._by_coding.get((system, code))

    def code(self, section: str, name: str) -> Code:
        """A Code from a ``{"code", "display"}`` entry such as ``ecg_leads``/``I``."""
        entry = self.raw[section][name]
        return Code(self.systems["mdc"], entry["code"], entry.get("display"))


def _code(system: str, entry: Mapping[str, str] | None) -> Code | None:
    return None if entry is None else Code(system, entry["code"], entry.get("display"))


def _kind_codes(kind: str, entry: Mapping[str, Any], systems: Mapping[str, str]) -> KindCodes:
    mdc = _code(systems["mdc"], entry["mdc"])
    assert mdc is not None, f"{kind}: an MDC code is required (PHD MDCType slice)"
    return KindCodes(
        kind=kind,
        display=entry["display"],
        loinc=_code(systems["loinc"], entry.get("loinc")),
        loinc_extra=tuple(Code(systems["loinc"], e["code"], e.get("display"))
                          for e in entry.get("loinc_extra", [])),
        mdc=mdc,
        mdc_aliases=tuple(Code(systems["mdc"], e["code"], e.get("display"))
                          for e in entry.get("mdc_aliases", [])),
        ucum=entry["ucum"],
        unit_display=entry["unit_display"],
        category=entry.get("category"),
        profile=entry.get("profile"),
    )  # fmt: skip


def _reverse_index(
    kinds: Iterable[KindCodes], raw: Mapping[str, Any]
) -> dict[tuple[str, str], str]:
    """(system, code) -> kind. MDC codes are one-to-one; a LOINC code shared by several kinds
    (8867-4 is heart rate and pulse rate) goes to the kind marked ``loinc_reverse``."""
    index: dict[tuple[str, str], str] = {}
    for k in kinds:
        for c in (k.mdc, *k.mdc_aliases):
            index[(c.system, c.code)] = k.kind
        if k.loinc is None:
            continue
        loincs = (k.loinc, *k.loinc_extra)
        if raw["kinds"][k.kind].get("loinc_reverse"):
            index.update({(c.system, c.code): k.kind for c in loincs})
        else:
            for c in loincs:
                index.setdefault((c.system, c.code), k.kind)
    return index


def parse_code_map(raw: Mapping[str, Any]) -> CodeMap:
    """Build a CodeMap from the parsed JSON (tests use this with edited copies)."""
    systems = MappingProxyType(dict(raw["systems"]))
    kinds = {name: _kind_codes(name, entry, systems) for name, entry in raw["kinds"].items()}
    return CodeMap(
        kinds=MappingProxyType(kinds),
        systems=systems,
        local=MappingProxyType(dict(raw["local"])),
        profiles=MappingProxyType(dict(raw["profiles"])),
        extensions=MappingProxyType(dict(raw["extensions"])),
        raw=MappingProxyType(dict(raw)),
        _by_coding=MappingProxyType(_reverse_index(kinds.values(), raw)),
    )


@lru_cache(maxsize=4)
def load_code_map(path: Path = CODES_PATH) -> CodeMap:
    """Read and index ``codes.json`` once per path."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FhirMappingError(
            f"{path} is missing: patient_hub.fhir needs the top-level fhir/ folder"
        ) from None
    return parse_code_map(raw)


def codes_for(kind: str) -> KindCodes:
    """The LOINC/MDC/UCUM codes of a measurement kind (``telemed_core.kinds.Kind`` value)."""
    return load_code_map().kind(kind)


def kind_for_coding(system: str | None, code: str | None) -> str | None:
    """The kind a Coding means: LOINC (``http://loinc.org``) or MDC (``urn:iso:std:iso:11073:10101``).

    Returns None for a coding that is not one of ours. A LOINC code shared by several kinds maps
    to the principal one (8867-4 -> heart_rate); use the MDC coding to tell them apart.
    """
    return load_code_map().kind_for_coding(system, code)


def kind_for_codings(codings: Iterable[Mapping[str, Any]]) -> str | None:
    """The kind of a ``code.coding`` list, MDC preferred (it is one-to-one), then LOINC."""
    cm = load_code_map()
    found = [(c.get("system"), cm.kind_for_coding(c.get("system"), c.get("code"))) for c in codings]
    hits = [(system, kind) for system, kind in found if kind is not None]
    hits.sort(key=lambda hit: hit[0] != cm.systems["mdc"])
    return hits[0][1] if hits else None
