"""FHIR R4 read and search under /fhir: metadata, Patient, Device, Observation and $lastn.

Access follows the rest of the API (``patient_hub.access``): a search sees only the patients the
user may see, whatever it asks for; a resource the user may not see is a 404, like one that
does not exist. Parameters are parsed by ``patient_hub.fhir.search`` and run by
``patient_hub.fhir.repository``; this module builds the Bundles and their links.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from clinician_api.deps import CurrentPrincipal, Session, get_settings
from clinician_api.fhir_rest.outcome import fhir_response
from patient_hub.access import Principal, require_patient, visible_patient_ids
from patient_hub.audit import service as audit
from patient_hub.fhir.codes import CODES_PATH
from patient_hub.fhir.common import JsonDict, decode_id
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.repository import devices as device_repo
from patient_hub.fhir.repository import lastn as lastn_repo
from patient_hub.fhir.repository import loading as loading_repo
from patient_hub.fhir.repository import observations as observation_repo
from patient_hub.fhir.repository import patients as patient_repo
from patient_hub.fhir.repository.results import Hit
from patient_hub.fhir.search.ids import parse_observation_id
from patient_hub.fhir.search.paging import Cursor, Page
from patient_hub.fhir.search.parse import (
    COMMON,
    DEVICE_PARAMS,
    OBSERVATION_PARAMS,
    PATIENT_PARAMS,
    check_format,
    parse_device_search,
    parse_lastn,
    parse_observation_search,
    parse_patient_search,
)
from patient_hub.fhir.search.queries import ObservationQuery
from telemed_core.errors import NotFound

router = APIRouter(prefix="/fhir", tags=["fhir"])

CAPABILITY_PATH = CODES_PATH.parent / "CapabilityStatement.json"
SUPPORTED = {
    "Observation": OBSERVATION_PARAMS | COMMON,
    "Patient": PATIENT_PARAMS | COMMON,
    "Device": DEVICE_PARAMS | COMMON,
}
Links = list[tuple[str, str]]


# -- request helpers -----------------------------------------------------------------------------


def fhir_base(request: Request) -> str:
    """The absolute base of the FHIR endpoints, as the client reached this server."""
    return str(request.base_url).rstrip("/") + "/fhir"


def lenient(request: Request) -> bool:
    """``Prefer: handling=lenient``: ignore unknown parameters instead of refusing them."""
    prefs = request.headers.get("prefer", "").replace(";", ",").split(",")
    return any(p.replace(" ", "").lower() == "handling=lenient" for p in prefs)


def _params(request: Request) -> list[tuple[str, str]]:
    return request.query_params.multi_items()


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(get_settings(request).timezone)


def _scope(asked: frozenset[str] | None, visible: set[str] | None) -> frozenset[str] | None:
    """The patients a query may touch: what it asked for within what the user may see."""
    if visible is None:
        return asked
    return frozenset(visible) if asked is None else asked & visible


def _url(base: str, resource_type: str, params: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(params), safe=":,/")
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")


class _Links:
    """Bundle links of one search: the understood parameters plus a paging parameter."""

    def __init__(self, base: str, resource_type: str, params: Sequence[tuple[str, str]]):
        self.base, self.resource_type, self.params = base, resource_type, list(params)
        self.links: Links = []

    def add(self, relation: str, *paging: tuple[str, str]) -> _Links:
        self.links.append((relation, _url(self.base, self.resource_type, [*self.params, *paging])))
        return self


def searchset(
    base: str, resources: Sequence[JsonDict], links: Links, total: int | None
) -> JsonDict:
    """A searchset Bundle: ``total`` when known, links, entries with absolute fullUrl."""
    bundle: JsonDict = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": rel, "url": url} for rel, url in links]
    bundle["entry"] = [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return bundle


def _count_only(
    base: str, resource_type: str, params: Sequence[tuple[str, str]], total: int
) -> JSONResponse:
    links = _Links(base, resource_type, params).add("self").links
    return fhir_response(searchset(base, [], links, total))


def _offset_links(links: _Links, page: Page, more: bool) -> Links:
    """Self/next/previous by offset (Patient, Device, and searches that gave ``_offset``)."""
    links.add("self", *([("_offset", str(page.offset))] if page.offset else []))
    if more:
        links.add("next", ("_offset", str(page.offset + page.count)))
    if page.offset:
        links.add("previous", ("_offset", str(max(0, page.offset - page.count))))
    return links.links


def _cursor_links(links: _Links, page: Page, hits: list[Hit], more: bool) -> Links:
    """Self/next/previous by keyset cursor: after the last entry, before the first one.

    ``more`` says whether rows follow in the direction of travel; travelling backwards, the
    page we came from is always next, and travelling forwards from a cursor, one is before.
    """
    cursor = page.cursor
    links.add("self", *([("_cursor", cursor.encode())] if cursor else []))
    forward = cursor is None or cursor.forward
    if hits and (more or not forward):
        links.add("next", ("_cursor", Cursor(True, _key(hits[-1])).encode()))
    if hits and ((more and not forward) or (forward and cursor is not None)):
        links.add("previous", ("_cursor", Cursor(False, _key(hits[0])).encode()))
    return links.links


def _key(hit: Hit) -> tuple[str, int, int]:
    """The keyset of an entry: its sort value (date or lastUpdated), source and row id."""
    return hit.at.isoformat(), hit.source, hit.pk


def _cheap_total(page: Page, shown: int, more: bool) -> int | None:
    """The total when the first (or an offset) page already holds the end of the results."""
    return page.offset + shown if page.cursor is None and not more else None


async def _audit(
    session: Session,
    who: Principal,
    request: Request,
    resource_type: str,
    patient_ids: Sequence[str | None],
    entity_id: str = "search",
) -> None:
    """One audit entry per patient whose data the answer holds (one with none if it is empty)."""
    action: audit.Action = "search" if entity_id == "search" else "read"
    await audit.record_many(
        session, actor=who, action=action, entity_type=resource_type, entity_id=entity_id,
        patient_ids=sorted(set(patient_ids), key=str) or [None],
        detail={"query": str(request.url.query)} if action == "search" else None,
    )  # fmt: skip


# -- metadata ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _capability_template() -> JsonDict:
    loaded: JsonDict = json.loads(CAPABILITY_PATH.read_text(encoding="utf-8"))
    return loaded


def capability_statement(base: str) -> JsonDict:
    """``fhir/CapabilityStatement.json`` as this running server: kind ``instance`` with its base
    URL, and only the search parameters this server actually takes."""
    cs = copy.deepcopy(_capability_template())
    cs["kind"] = "instance"
    cs["implementation"] = {"description": "Telemed hub FHIR R4 facade", "url": base}
    for rest in cs.get("rest", []):
        for resource in rest.get("resource", []):
            names = SUPPORTED.get(resource["type"])
            if names is not None and "searchParam" in resource:
                resource["searchParam"] = [p for p in resource["searchParam"] if p["name"] in names]
    return cs


@router.get("/metadata", summary="CapabilityStatement (no sign-in needed)")
async def metadata(request: Request) -> JSONResponse:
    check_format(request.query_params.get("_format"))
    return fhir_response(capability_statement(fhir_base(request)))


# -- Patient -------------------------------------------------------------------------------------


@router.get(
    "/Patient",
    summary="Search patients (_id, identifier, name, family, given, birthdate, gender, _lastUpdated)",
)
async def search_patients(
    request: Request, session: Session, who: CurrentPrincipal
) -> JSONResponse:
    q = parse_patient_search(_params(request), lenient=lenient(request), tz=_zone(request))
    visible = await visible_patient_ids(session, who)
    scope = None if visible is None else frozenset(visible)
    base = fhir_base(request)
    total: int | None = None
    if q.page.count_only or q.page.total in ("accurate", "estimate"):
        total = await patient_repo.count_patients(session, q, scope)
    if total is not None and q.page.count_only:
        return _count_only(base, "Patient", q.params, total)
    rows, more = await patient_repo.search_patients(session, q, scope)
    await _audit(session, who, request, "Patient", [p.id for p in rows])
    if total is None and q.page.total != "none":
        total = _cheap_total(q.page, len(rows), more)
    links = _offset_links(_Links(base, "Patient", q.params), q.page, more)
    return fhir_response(
        searchset(base, [patient_repo.patient_resource(p) for p in rows], links, total)
    )


@router.get("/Patient/{patient_id}", summary="Read a patient")
async def read_patient(
    patient_id: str, request: Request, session: Session, who: CurrentPrincipal
) -> JSONResponse:
    check_format(request.query_params.get("_format"))
    try:
        raw_id = decode_id(patient_id)
    except FhirMappingError:
        raise NotFound(f"no patient {patient_id!r}") from None
    patient = await require_patient(session, who, raw_id)
    await _audit(session, who, request, "Patient", [patient.id], entity_id=patient_id)
    return fhir_response(patient_repo.patient_resource(patient))


# -- Device --------------------------------------------------------------------------------------


@router.get("/Device", summary="Search devices (patient, _id, identifier)")
async def search_devices(request: Request, session: Session, who: CurrentPrincipal) -> JSONResponse:
    q = parse_device_search(_params(request), lenient=lenient(request))
    scope = _scope(q.patients, await visible_patient_ids(session, who))
    found = await device_repo.devices(session, scope, device_ids=q.ids, kiosks=q.patients is None)
    base = fhir_base(request)
    if q.page.sort.descending:
        found.reverse()
    if q.page.count_only:
        return _count_only(base, "Device", q.params, len(found))
    shown = found[q.page.offset : q.page.offset + q.page.count]
    await _audit(session, who, request, "Device", [p for _, p in shown])
    more = q.page.offset + q.page.count < len(found)
    links = _offset_links(_Links(base, "Device", q.params), q.page, more)
    total = None if q.page.total == "none" else len(found)
    return fhir_response(searchset(base, [r for r, _ in shown], links, total))


@router.get("/Device/{device_id}", summary="Read a device (phd-...) or gateway (phg-...)")
async def read_device(
    device_id: str, request: Request, session: Session, who: CurrentPrincipal
) -> JSONResponse:
    check_format(request.query_params.get("_format"))
    visible = await visible_patient_ids(session, who)
    scope = None if visible is None else frozenset(visible)
    found = await device_repo.devices(session, scope, device_ids=[device_id])
    if not found:
        raise NotFound(f"no device {device_id!r}")
    await _audit(session, who, request, "Device", [found[0][1]], entity_id=device_id)
    return fhir_response(found[0][0])


# -- Observation ---------------------------------------------------------------------------------


@router.get("/Observation/$lastn", summary="Newest N observations per kind, panel, lead")
async def lastn(request: Request, session: Session, who: CurrentPrincipal) -> JSONResponse:
    """``$lastn``: the newest ``max`` Observations of each series, where a series is one of our
    kinds, so LOINC- and MDC-coded searches of one measurement give one series (HAPI's $lastn
    cannot do this with multi-coded Observations)."""
    q = parse_lastn(_params(request), lenient=lenient(request), tz=_zone(request))
    scope = _scope(q.patients, await visible_patient_ids(session, who))
    hits: list[Hit] = []
    for patient_id in await patient_repo.patient_ids(session, scope):
        hits += [hit for _, hit in await lastn_repo.last_n(session, q, patient_id)]
    loaded = await loading_repo.load_observations(session, [h.id for h in hits])
    await _audit(session, who, request, "Observation", [x.patient_id for x in loaded])
    base = fhir_base(request)
    links = _Links(base, "Observation/$lastn", q.params).add("self").links
    return fhir_response(searchset(base, [x.resource for x in loaded], links, len(loaded)))


async def _observation_query(request: Request, session: Session) -> ObservationQuery:
    q = parse_observation_search(_params(request), lenient=lenient(request), tz=_zone(request))
    if q.identifiers:
        found = await observation_repo.resolve_identifiers(session, q.identifiers)
        q = replace(q, ids=found if q.ids is None else q.ids & found)
    return q


@router.get("/Observation", summary="Search observations")
async def search_observations(
    request: Request, session: Session, who: CurrentPrincipal
) -> JSONResponse:
    """Readings, BP panels, ECG chunks and findings as Observations, keyset-paged."""
    q = await _observation_query(request, session)
    scope = _scope(q.patients, await visible_patient_ids(session, who))
    base = fhir_base(request)
    total: int | None = None
    if q.page.count_only or q.page.total in ("accurate", "estimate"):
        total = await observation_repo.count_observations(session, q, scope)
    if total is not None and q.page.count_only:
        return _count_only(base, "Observation", q.params, total)
    page = await observation_repo.search_observations(session, q, scope)
    loaded = await loading_repo.load_observations(session, [h.id for h in page.hits])
    asked = sorted(scope) if q.patients is not None and scope is not None else []
    await _audit(session, who, request, "Observation", [x.patient_id for x in loaded] + asked)
    if total is None and q.page.total != "none":
        total = _cheap_total(q.page, len(page.hits), page.more)
    links = _Links(base, "Observation", q.params)
    if q.page.by_offset:
        link_list = _offset_links(links, q.page, page.more)
    else:
        link_list = _cursor_links(links, q.page, page.hits, page.more)
    return fhir_response(searchset(base, [x.resource for x in loaded], link_list, total))


@router.get("/Observation/{observation_id}", summary="Read an observation")
async def read_observation(
    observation_id: str, request: Request, session: Session, who: CurrentPrincipal
) -> JSONResponse:
    check_format(request.query_params.get("_format"))
    oid = parse_observation_id(observation_id)
    loaded = await loading_repo.read_observation(session, oid) if oid is not None else None
    visible = await visible_patient_ids(session, who)
    if loaded is None or (visible is not None and loaded.patient_id not in visible):
        raise NotFound(f"no observation {observation_id!r}")
    await _audit(session, who, request, "Observation", [loaded.patient_id], observation_id)
    return fhir_response(loaded.resource)


__all__ = ["router", "capability_statement", "searchset"]
