"""FHIR search parameters -> typed queries (pure, no I/O).

What a search may ask (FHIR R4 search, http://hl7.org/fhir/R4/search.html), per resource type:

* Observation: ``patient``/``subject`` (``Patient/ID``, ``ID`` or an absolute URL), ``code`` and
  ``category`` (tokens ``system|code``, ``|code``, ``code``), ``date`` and ``_lastUpdated``
  (prefixes eq ne gt lt ge le sa eb; partial dates are ranges), ``_id``, ``identifier``;
* Patient: ``_id``, ``identifier``, ``_lastUpdated``; Device: ``_id``, ``patient``,
  ``identifier``;
* everywhere: ``_count`` (default 50, at most 1000), ``_sort``, ``_summary=count``, ``_total``,
  paging by ``_cursor`` (opaque, from the links) or ``_offset``, ``_format``.

Commas inside one value mean OR; a parameter given twice means AND. An empty value is ignored
(as the spec says). An unknown parameter or modifier is refused with 400 unless the caller asked
for lenient handling (``Prefer: handling=lenient``); it is then dropped from the self link.

Codes resolve to *our* kinds, so LOINC and MDC codings of one measurement find the same rows; a
token matches every kind whose Observation carries that coding (LOINC 8867-4 is on heart rate and
pulse rate Observations, so both match; MDC 147842 is heart rate only). Systolic, diastolic and
mean pressure codes, and the panel codes, find BP panels (see ``Selection``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal

from patient_hub.fhir.codes import Code, load_code_map
from patient_hub.fhir.common import WAVEFORMS, decode_id
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.patient_params import (
    NAME_PARAMS,
    BirthdateFilter,
    NameFilter,
    birthdate_filter,
    gender_values,
    name_filter,
)
from patient_hub.fhir.resources import BIRTH_NUMBER_SYSTEM
from telemed_core.errors import InvalidInput
from telemed_core.kinds import PULSE_CHANNELS

DEFAULT_COUNT = 50
MAX_COUNT = 1000
BP_KINDS = frozenset({"bp_systolic", "bp_diastolic", "bp_mean"})

#: Sources of Observations, in the order they sort after the date (the keyset's second part).
READING, CHUNK, FINDING = 0, 1, 2
#: Logical id prefixes: a reading, a BP panel (id of its systolic row), an ECG chunk, a finding.
ID_PREFIXES = {"r": READING, "bp": READING, "ecg": CHUNK, "f": FINDING}

#: Parameters every search takes; ``_totalMethod`` is what fhirpy's ``count()`` adds (ignored).
COMMON = frozenset({"_count", "_offset", "_cursor", "_sort", "_summary", "_total", "_format"})
IGNORED = frozenset({"_pretty", "_totalMethod"})
PAGING = frozenset({"_cursor", "_offset"})
OBSERVATION_PARAMS = frozenset(
    {"patient", "subject", "code", "category", "date", "_lastUpdated", "_id", "identifier"}
)
PATIENT_PARAMS = frozenset(
    {"_id", "identifier", "_lastUpdated", "name", "family", "given", "birthdate", "gender"}
)
DEVICE_PARAMS = frozenset({"_id", "identifier", "patient"})
LASTN_PARAMS = frozenset({"patient", "subject", "code", "category", "date", "max", "_format"})
SORTS = {
    "Observation": ("date", "_lastUpdated"),
    "Patient": ("_id", "_lastUpdated"),
    "Device": ("_id",),
}
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
ALIASES = {"patient:Patient": "patient", "subject:Patient": "subject"}


class SearchParamError(InvalidInput):
    """A search parameter that is malformed, unknown or not supported (HTTP 400)."""


# -- dates -------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class DateRange:
    """The half-open span ``[lo, hi)`` a FHIR date stands for at its precision (UTC-aware)."""

    lo: datetime
    hi: datetime


def _add_months(at: datetime, months: int) -> datetime:
    years, month0 = divmod(at.month - 1 + months, 12)
    return at.replace(year=at.year + years, month=month0 + 1)


def _offset(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def parse_date_range(text: str, tz: tzinfo = UTC) -> DateRange:
    """``2026``, ``2026-11``, ``2026-11-27`` (days in ``tz``, the server's zone) or a dateTime
    with a UTC offset, to minute, second or fraction precision -> the span it covers."""
    text = text.replace(" ", "+")  # an offset's "+" that the client did not percent-encode
    m = _DATE.match(text)
    if m is None:
        raise SearchParamError(f"{text!r} is not a FHIR date (e.g. 2026-11-27T10:00:00Z)")
    g = m.groupdict()
    if g["H"] is not None and g["tz"] is None:
        raise SearchParamError(f"{text!r} has a time but no time zone: add Z or an offset")
    zone = tz if g["H"] is None else _offset(g["tz"])
    try:
        lo = datetime(
            int(g["y"]), int(g["m"] or 1), int(g["d"] or 1), int(g["H"] or 0), int(g["M"] or 0),
            int(g["S"] or 0), int((g["f"] or "0").ljust(6, "0")), tzinfo=zone,
        )  # fmt: skip
    except ValueError as exc:
        raise SearchParamError(f"{text!r} is not a valid date: {exc}") from None
    if g["m"] is None:
        hi = lo.replace(year=lo.year + 1)
    elif g["d"] is None:
        hi = _add_months(lo, 1)
    elif g["H"] is None:
        hi = lo + timedelta(days=1)
    elif g["S"] is None:
        hi = lo + timedelta(minutes=1)
    else:
        hi = lo + timedelta(microseconds=10 ** (6 - len(g["f"] or "")))
    return DateRange(lo.astimezone(UTC), hi.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Bound:
    """One comparison of a target's span with an instant: ``start >= at`` or ``end < at``.

    An instant (a reading) has ``start == end``; an ongoing period (a finding without an end)
    has ``end`` None, which is after every instant.
    """

    side: Literal["start", "end"]
    op: Literal[">=", "<"]
    at: datetime

    def holds(self, start: datetime, end: datetime | None) -> bool:
        value = start if self.side == "start" else end
        if value is None:
            return self.op == ">="
        return value >= self.at if self.op == ">=" else value < self.at


@dataclass(frozen=True, slots=True)
class DateClause:
    """One date value with its prefix, as alternatives (OR) of bounds (AND).

    FHIR semantics for a target span T and the value's span [lo, hi): eq: T inside it;
    ne: not eq; gt/ge: T reaches past hi/lo; lt/le: T starts before lo/hi; sa: T starts after
    it; eb: T ends before it.
    """

    prefix: str
    span: DateRange

    @property
    def alternatives(self) -> tuple[tuple[Bound, ...], ...]:
        lo, hi = self.span.lo, self.span.hi
        table: dict[str, tuple[tuple[Bound, ...], ...]] = {
            "eq": ((Bound("start", ">=", lo), Bound("end", "<", hi)),),
            "ne": ((Bound("start", "<", lo),), (Bound("end", ">=", hi),)),
            "gt": ((Bound("end", ">=", hi),),),
            "ge": ((Bound("end", ">=", lo),),),
            "lt": ((Bound("start", "<", lo),),),
            "le": ((Bound("start", "<", hi),),),
            "sa": ((Bound("start", ">=", hi),),),
            "eb": ((Bound("end", "<", lo),),),
        }
        return table[self.prefix]

    def matches(self, start: datetime, end: datetime | None) -> bool:
        return any(all(b.holds(start, end) for b in alt) for alt in self.alternatives)


@dataclass(frozen=True, slots=True)
class DateFilter:
    """One date parameter: its comma-separated values are alternatives."""

    clauses: tuple[DateClause, ...]

    def matches(self, start: datetime, end: datetime | None) -> bool:
        return any(c.matches(start, end) for c in self.clauses)


def parse_date_filter(value: str, tz: tzinfo = UTC) -> DateFilter:
    """``ge2026-11-27,lt2026-01`` -> a DateFilter; no prefix means ``eq``; ``ap`` is refused."""
    clauses = []
    for part in any_of(value):
        prefix = part[:2] if part[:2].isalpha() else "eq"
        if prefix not in PREFIXES:
            raise SearchParamError(f"date prefix {prefix!r} is not supported; use {PREFIXES}")
        text = part[2:] if part[:2].isalpha() else part
        clauses.append(DateClause(prefix, parse_date_range(text, tz)))
    return DateFilter(tuple(clauses))


# -- tokens and references ---------------------------------------------------------------------


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


# -- what an Observation search selects ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subset:
    """Some or all members of an open set (waveform channels, finding kinds): ``values``, or,
    when ``every``, everything but ``excluded``."""

    values: frozenset[str] = frozenset()
    every: bool = False
    excluded: frozenset[str] = frozenset()

    def __and__(self, other: Subset) -> Subset:
        if self.every and other.every:
            return Subset(every=True, excluded=self.excluded | other.excluded)
        if self.every or other.every:
            whole, part = (self, other) if self.every else (other, self)
            return Subset(part.values - whole.excluded)
        return Subset(self.values & other.values)

    def __or__(self, other: Subset) -> Subset:
        if self.every and other.every:
            return Subset(every=True, excluded=self.excluded & other.excluded)
        if self.every or other.every:
            whole, part = (self, other) if self.every else (other, self)
            return Subset(every=True, excluded=whole.excluded - part.values)
        return Subset(self.values | other.values)

    def __bool__(self) -> bool:
        return self.every or bool(self.values)


EVERY = Subset(every=True)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which stored things an Observation search may return.

    ``kinds``: readings mapped one by one (a BP component only when it is not in a panel);
    ``panel_kinds``: BP panels having a component of one of these kinds (systolic and diastolic
    are in every panel, so either means all panels); ``ecg_leads``: waveform chunks of these
    channels (ECG leads by name, ``PLETH``, ``ABP``: see :data:`PULSE_CHANNELS`);
    ``finding_kinds``: findings of these kinds.
    """

    kinds: frozenset[str] = frozenset()
    panel_kinds: frozenset[str] = frozenset()
    ecg_leads: Subset = Subset()
    finding_kinds: Subset = Subset()

    def __and__(self, other: Selection) -> Selection:
        return Selection(
            self.kinds & other.kinds,
            self.panel_kinds & other.panel_kinds,
            self.ecg_leads & other.ecg_leads,
            self.finding_kinds & other.finding_kinds,
        )

    def __or__(self, other: Selection) -> Selection:
        return Selection(
            self.kinds | other.kinds,
            self.panel_kinds | other.panel_kinds,
            self.ecg_leads | other.ecg_leads,
            self.finding_kinds | other.finding_kinds,
        )

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.panel_kinds or self.ecg_leads or self.finding_kinds)


#: Every ECG lead: all channels but the pulse waveforms.
ALL_ECG_LEADS = Subset(every=True, excluded=frozenset(PULSE_CHANNELS.values()))


def reading_kinds() -> frozenset[str]:
    """Kinds stored as scalar readings (everything in codes.json but the waveforms)."""
    return frozenset(k for k in load_code_map().kinds if k not in WAVEFORMS)


def everything() -> Selection:
    return Selection(reading_kinds(), BP_KINDS, EVERY, EVERY)


def _kind_codes(kind: str) -> list[Code]:
    kc = load_code_map().kind(kind)
    return [*([kc.loinc] if kc.loinc else []), *kc.loinc_extra, kc.mdc, *kc.mdc_aliases]


def select_code(token: Token) -> Selection:
    """The Observations whose ``code`` carries a coding matching ``token``."""
    cm = load_code_map()
    mdc = cm.systems["mdc"]
    kinds = frozenset(
        k for k in reading_kinds() if any(token.matches(c.system, c.code) for c in _kind_codes(k))
    )
    panel = cm.raw["bp_panel"]
    panel_codes = [(cm.systems["loinc"], panel["loinc"]["code"]), (mdc, panel["mdc"]["code"])]
    panel_kinds = kinds & BP_KINDS
    if any(token.matches(system, code) for system, code in panel_codes):
        panel_kinds |= {"bp_systolic", "bp_diastolic"}  # every panel has both
    if token.matches(mdc, cm.kind("ecg").mdc.code):
        leads = ALL_ECG_LEADS  # the generic MDC_ECG_ELEC_POTL stands for any lead
    else:
        by_lead = cm.raw["ecg_leads"].items()
        leads = Subset(frozenset(n for n, e in by_lead if token.matches(mdc, e["code"])))
    for kind, channel in PULSE_CHANNELS.items():
        if token.matches(mdc, cm.kind(kind).mdc.code):
            leads |= Subset(frozenset({channel}))
    finding = token.system in (None, cm.local["finding_kind"]) and token.code
    findings = Subset(frozenset({token.code}) if finding else frozenset())
    return Selection(kinds, panel_kinds, leads, findings)


def select_category(token: Token) -> Selection:
    """The Observations whose ``category`` carries a coding matching ``token``."""
    cm = load_code_map()
    hl7 = cm.systems["observation_category"]
    by_category = {
        k: kc.category for k, kc in cm.kinds.items() if k not in WAVEFORMS and kc.category
    }
    kinds = frozenset(k for k, cat in by_category.items() if token.matches(hl7, cat))
    sel = Selection(kinds, BP_KINDS if token.matches(hl7, "vital-signs") else frozenset())
    if any(token.matches(cm.systems["phd_category"], c) for c in cm.raw["phd_category"]["accept"]):
        sel |= Selection(reading_kinds(), BP_KINDS, EVERY)
    if token.matches(cm.local["finding_category"], "finding"):
        sel |= Selection(finding_kinds=EVERY)
    return sel


def _union(values: Sequence[str], resolve: Callable[[Token], Selection]) -> Selection:
    sel = Selection()
    for v in values:
        sel |= resolve(parse_token(v))
    return sel


# -- ids ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationId:
    """A logical Observation id split into its source, primary key and whether it is a panel."""

    source: int
    pk: int
    panel: bool = False

    def __str__(self) -> str:
        prefix = {READING: "bp" if self.panel else "r", CHUNK: "ecg", FINDING: "f"}[self.source]
        return f"{prefix}-{self.pk}"


def parse_observation_id(text: str) -> ObservationId | None:
    """``r-12`` (reading), ``bp-12`` (panel of systolic row 12), ``ecg-3``, ``f-9``; else None."""
    prefix, _, pk = text.partition("-")
    if prefix not in ID_PREFIXES or not pk.isdigit() or len(pk) > 18:
        return None
    return ObservationId(ID_PREFIXES[prefix], int(pk), prefix == "bp")


# -- paging ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an Observation page starts: right after (``forward``) or right before ``key``, the
    keyset ``(sort value as an ISO instant, source, row id)`` of the entry the link was made
    from (the last entry of the page before, or the first of the page after)."""

    forward: bool
    key: tuple[str, int, int]

    def encode(self) -> str:
        raw = json.dumps({"f": int(self.forward), "k": list(self.key)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            value, source, pk = raw["k"]
            if not (isinstance(value, str) and isinstance(source, int) and isinstance(pk, int)):
                raise TypeError
            return cls(bool(raw["f"]), (value, source, pk))
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise SearchParamError("_cursor is not one this server issued") from None


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    descending: bool


@dataclass(frozen=True, slots=True)
class Page:
    """Page size and position; ``count`` 0 or ``summary_count`` ask for the total only."""

    count: int = DEFAULT_COUNT
    offset: int = 0
    cursor: Cursor | None = None
    sort: Sort = Sort("date", True)
    summary_count: bool = False
    total: Literal["none", "estimate", "accurate"] | None = None
    by_offset: bool = False  # ``_offset`` was given: links page by offset too

    @property
    def count_only(self) -> bool:
        return self.summary_count or self.count == 0


# -- queries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationQuery:
    """A parsed Observation search. ``patients`` None: no patient filter (access still applies);
    ``ids`` None: no ``_id``/``identifier`` filter. ``params``: what was understood, for links."""

    patients: frozenset[str] | None = None
    selection: Selection = field(default_factory=everything)
    ids: frozenset[ObservationId] | None = None
    identifiers: tuple[Token, ...] = ()
    dates: tuple[DateFilter, ...] = ()
    last_updated: tuple[DateFilter, ...] = ()
    page: Page = Page()
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PatientQuery:
    """``identifiers``: per ``identifier`` parameter, (patient ids, birth numbers) either of
    which matches; the parameters are ANDed, as are names, birth dates and genders."""

    ids: frozenset[str] | None = None
    last_updated: tuple[DateFilter, ...] = ()
    identifiers: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    names: tuple[NameFilter, ...] = ()
    birthdates: tuple[BirthdateFilter, ...] = ()
    genders: tuple[frozenset[str], ...] = ()
    page: Page = Page(sort=Sort("_id", False))
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """``ids`` are logical Device ids (``phd-...``, ``phg-...``)."""

    patients: frozenset[str] | None = None
    ids: frozenset[str] | None = None
    page: Page = Page(sort=Sort("_id", False))
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LastnQuery:
    """``$lastn``: the newest ``max_per_series`` Observations of each series (our kind; a BP
    panel; an ECG lead; a finding kind)."""

    patients: frozenset[str] | None = None
    selection: Selection = field(default_factory=everything)
    dates: tuple[DateFilter, ...] = ()
    max_per_series: int = 1
    params: tuple[tuple[str, str], ...] = ()


# -- parsing -----------------------------------------------------------------------------------


class _Params:
    """Query parameters grouped by name, checked against what a search understands."""

    def __init__(
        self, raw: Iterable[tuple[str, str]], known: frozenset[str], *, lenient: bool
    ) -> None:
        self.values: dict[str, list[str]] = {}
        self.kept: list[tuple[str, str]] = []
        for name, value in raw:
            canonical = ALIASES.get(name, name)
            if value == "" or canonical in IGNORED:
                continue  # FHIR: a parameter without a value is ignored
            if canonical not in known:
                if lenient:
                    continue
                what = "modifier" if ":" in name else "parameter"
                raise SearchParamError(f"unknown or unsupported search {what} {name!r}")
            self.values.setdefault(canonical, []).append(value)
            if canonical not in PAGING:
                self.kept.append((canonical, value))

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def one(self, name: str) -> str | None:
        values = self.all(name)
        if len(values) > 1:
            raise SearchParamError(f"{name} may be given only once")
        return values[0] if values else None

    def integer(self, name: str, *, low: int) -> int | None:
        text = self.one(name)
        if text is None:
            return None
        if not text.isdigit() or int(text) < low:
            raise SearchParamError(f"{name} must be an integer >= {low}, got {text!r}")
        return int(text)


def _page(p: _Params, resource_type: str, default_sort: Sort) -> Page:
    count = p.integer("_count", low=0)
    offset = p.integer("_offset", low=0)
    cursor_text = p.one("_cursor")
    if cursor_text is not None and offset is not None:
        raise SearchParamError("use either _cursor or _offset, not both")
    sort = default_sort
    if (text := p.one("_sort")) is not None:
        key = text.removeprefix("-")
        if key not in SORTS[resource_type]:
            raise SearchParamError(
                f"_sort {text!r} is not supported for {resource_type}; one of "
                f"{[f'{s}' for s in SORTS[resource_type]]} (prefix - for descending)"
            )
        sort = Sort(key, text.startswith("-"))
    summary = p.one("_summary")
    if summary not in (None, "count", "false"):
        raise SearchParamError(f"_summary={summary} is not supported (count or false)")
    total = p.one("_total")
    if total not in (None, "none", "estimate", "accurate"):
        raise SearchParamError(f"_total must be none, estimate or accurate, got {total!r}")
    check_format(p.one("_format"))
    return Page(
        count=min(DEFAULT_COUNT if count is None else count, MAX_COUNT),
        offset=offset or 0,
        cursor=Cursor.decode(cursor_text) if cursor_text is not None else None,
        sort=sort,
        summary_count=summary == "count",
        total=total,  # type: ignore[arg-type]  # checked against the literal values above
        by_offset=offset is not None,
    )


FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})


def check_format(value: str | None) -> None:
    """``_format``: JSON only; anything else is a 406 (FHIR http.html#mime-type)."""
    if value is not None and value not in FORMATS:
        raise UnsupportedFormat(f"_format {value!r} is not supported; this server speaks JSON")


class UnsupportedFormat(InvalidInput):
    status_code = 406
    code = "not-supported"


def _patients(p: _Params) -> frozenset[str] | None:
    """``patient`` and ``subject``: each value a comma list (OR); every parameter must hold."""
    result: frozenset[str] | None = None
    for name in ("patient", "subject"):
        for value in p.all(name):
            ids = {parse_patient_reference(v) for v in any_of(value)}
            allowed = frozenset(i for i in ids if i is not None)
            result = allowed if result is None else result & allowed
    return result


def _dates(p: _Params, name: str, tz: tzinfo) -> tuple[DateFilter, ...]:
    return tuple(parse_date_filter(v, tz) for v in p.all(name))


def _selection(p: _Params) -> Selection:
    sel = everything()
    for value in p.all("code"):
        sel &= _union(split_escaped(value, ","), select_code)
    for value in p.all("category"):
        sel &= _union(split_escaped(value, ","), select_category)
    return sel


def _observation_ids(p: _Params) -> frozenset[ObservationId] | None:
    result: frozenset[ObservationId] | None = None
    for value in p.all("_id"):
        ids = {parse_observation_id(v) for v in any_of(value)}
        allowed = frozenset(i for i in ids if i is not None)
        result = allowed if result is None else result & allowed
    return result


def parse_observation_search(
    raw: Iterable[tuple[str, str]], *, lenient: bool = False, tz: tzinfo = UTC
) -> ObservationQuery:
    """Parse an Observation search (query string pairs, in order). ``tz`` is the zone of
    date-only values. SearchParamError (400) for anything malformed or unknown."""
    p = _Params(raw, OBSERVATION_PARAMS | COMMON, lenient=lenient)
    identifiers = tuple(
        parse_token(v) for value in p.all("identifier") for v in split_escaped(value, ",")
    )
    if len(p.all("identifier")) > 1:
        raise SearchParamError("identifier may be given only once (use a comma list for OR)")
    return ObservationQuery(
        patients=_patients(p),
        selection=_selection(p),
        ids=_observation_ids(p),
        identifiers=identifiers,
        dates=_dates(p, "date", tz),
        last_updated=_dates(p, "_lastUpdated", tz),
        page=_page(p, "Observation", Sort("date", True)),
        params=tuple(p.kept),
    )


def _plain_ids(p: _Params, name: str = "_id") -> frozenset[str] | None:
    result: frozenset[str] | None = None
    for value in p.all(name):
        ids = frozenset(any_of(value))
        result = ids if result is None else result & ids
    return result


def _identifier_ids(p: _Params, systems: Mapping[str, str]) -> frozenset[str] | None:
    """``identifier`` tokens -> logical ids, for identifier systems mapped to id prefixes
    (a token without a system may mean any of them)."""
    result: frozenset[str] | None = None
    for value in p.all("identifier"):
        ids: set[str] = set()
        for token in map(parse_token, split_escaped(value, ",")):
            for system, prefix in systems.items():
                if token.system in (None, system):
                    ids.add(prefix + token.code)
        result = frozenset(ids) if result is None else result & frozenset(ids)
    return result


def _and(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    return b if a is None else a if b is None else a & b


def parse_patient_search(
    raw: Iterable[tuple[str, str]], *, lenient: bool = False, tz: tzinfo = UTC
) -> PatientQuery:
    """Patient search: ``_id``, ``identifier`` (our patient id or the birth number),
    ``name``/``family``/``given`` (starts a word, case-insensitive), ``birthdate`` (with
    prefixes), ``gender``, ``_lastUpdated``."""
    p = _Params(raw, PATIENT_PARAMS | COMMON, lenient=lenient)
    ids = _plain_ids(p)
    decoded = None if ids is None else frozenset(decode_ids(ids, ""))
    return PatientQuery(
        ids=decoded,
        last_updated=_dates(p, "_lastUpdated", tz),
        identifiers=tuple(_patient_identifier(v) for v in p.all("identifier")),
        names=tuple(
            name_filter(part, v, any_of(v))  # type: ignore[arg-type]
            for part in NAME_PARAMS
            for v in p.all(part)
        ),
        birthdates=tuple(birthdate_filter(v) for v in p.all("birthdate")),
        genders=tuple(gender_values(any_of(v)) for v in p.all("gender")),
        page=_page(p, "Patient", Sort("_id", False)),
        params=tuple(p.kept),
    )


def _patient_identifier(value: str) -> tuple[frozenset[str], frozenset[str]]:
    """One ``identifier`` value -> (patient ids, birth numbers) it may mean."""
    local = load_code_map().local["patient_identifier"]
    ids: set[str] = set()
    numbers: set[str] = set()
    for token in map(parse_token, split_escaped(value, ",")):
        if token.system in (None, local):
            ids |= decode_ids([token.code], "")
        if token.system in (None, BIRTH_NUMBER_SYSTEM):
            numbers.add(token.code.replace("/", ""))
    return frozenset(ids), frozenset(numbers)


def decode_ids(ids: Iterable[str], prefix: str) -> set[str]:
    """The ids that decode under ``prefix`` (others cannot match anything: left out)."""
    out = set()
    for i in ids:
        try:
            out.add(decode_id(i, prefix))
        except FhirMappingError:
            continue
    return out


def parse_device_search(raw: Iterable[tuple[str, str]], *, lenient: bool = False) -> DeviceQuery:
    """Device search: ``patient``, ``_id`` (``phd-...``/``phg-...``), ``identifier`` (our device
    or bridge id)."""
    p = _Params(raw, DEVICE_PARAMS | COMMON, lenient=lenient)
    local = load_code_map().local
    systems = {local["device_identifier"]: "phd-", local["bridge_identifier"]: "phg-"}
    return DeviceQuery(
        patients=_patients(p),
        ids=_and(_plain_ids(p), _identifier_ids(p, systems)),
        page=_page(p, "Device", Sort("_id", False)),
        params=tuple(p.kept),
    )


def parse_lastn(
    raw: Iterable[tuple[str, str]], *, lenient: bool = False, tz: tzinfo = UTC
) -> LastnQuery:
    """``Observation/$lastn``: ``patient``/``subject``, ``code``, ``category``, ``date`` and
    ``max`` (default 1, at most MAX_COUNT)."""
    p = _Params(raw, LASTN_PARAMS, lenient=lenient)
    check_format(p.one("_format"))
    max_n = p.integer("max", low=1)
    return LastnQuery(
        patients=_patients(p),
        selection=_selection(p),
        dates=_dates(p, "date", tz),
        max_per_series=min(max_n or 1, MAX_COUNT),
        params=tuple(p.kept),
    )
