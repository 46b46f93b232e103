"""Search query strings -> typed queries: known parameters, paging, per-resource parsers
(the grammar is described in the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, tzinfo

from patient_hub.fhir.codes import load_code_map
from patient_hub.fhir.common import decode_id
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.patient_params import (
    NAME_PARAMS,
    birthdate_filter,
    gender_values,
    name_filter,
)
from patient_hub.fhir.resources import BIRTH_NUMBER_SYSTEM
from patient_hub.fhir.search.dates import DateFilter, parse_date_filter
from patient_hub.fhir.search.errors import SearchParamError, UnsupportedFormat
from patient_hub.fhir.search.ids import ObservationId, parse_observation_id
from patient_hub.fhir.search.paging import DEFAULT_COUNT, MAX_COUNT, Cursor, Page, Sort
from patient_hub.fhir.search.queries import DeviceQuery, LastnQuery, ObservationQuery, PatientQuery
from patient_hub.fhir.search.selection import Selection, everything, select_category, select_code
from patient_hub.fhir.search.tokens import (
    Token,
    any_of,
    parse_patient_reference,
    parse_token,
    split_escaped,
)

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


ALIASES = {"patient:Patient": "patient", "subject:Patient": "subject"}


def _union(values: Sequence[str], resolve: Callable[[Token], Selection]) -> Selection:
    sel = Selection()
    for v in values:
        sel |= resolve(parse_token(v))
    return sel


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
