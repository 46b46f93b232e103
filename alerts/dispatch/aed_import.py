"""AED registry import: CSV or GeoJSON → validated AED records. Pure; the whole file or nothing.

CSV: a header with ``id, latitude, longitude, address, access_hours, notes`` (the last three
optional). GeoJSON: a FeatureCollection of Point features (``[longitude, latitude]``) whose
properties carry ``id``, ``address``, ``access_hours`` (or OSM's ``opening_hours``), ``notes``
(or ``description``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from alerts.dispatch.geo import valid_position
from alerts.dispatch.hours import parse_hours
from telemed_core.errors import InvalidInput, TelemedError

MAX_ERRORS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class AedRecord:
    id: str
    latitude: float
    longitude: float
    address: str
    access_hours: str
    notes: str


def parse_aeds(text: str, filename: str) -> list[AedRecord]:
    """Every AED of the file; InvalidInput listing the bad rows (by number) if any is wrong."""
    if filename.lower().endswith((".geojson", ".json")):
        rows = _geojson_rows(text)
    else:
        reader = csv.DictReader(io.StringIO(text))
        rows = [(f"line {n}", dict(row)) for n, row in enumerate(reader, start=2)]
    records, errors, seen = [], [], set()
    for where, row in rows:
        try:
            record = _record(row)
            if record.id in seen:
                raise InvalidInput(f"duplicate id {record.id!r}")
            seen.add(record.id)
            records.append(record)
        except TelemedError as exc:
            errors.append(f"{where}: {exc.message}")
    if errors:
        more = (
            f" (and {len(errors) - MAX_ERRORS_SHOWN} more)"
            if len(errors) > MAX_ERRORS_SHOWN
            else ""
        )
        raise InvalidInput(
            f"{filename}: nothing imported; " + "; ".join(errors[:MAX_ERRORS_SHOWN]) + more
        )
    if not records:
        raise InvalidInput(f"{filename}: no AED in the file")
    return records


def _geojson_rows(text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidInput("GeoJSON must be a FeatureCollection")
    rows = []
    for i, feature in enumerate(doc.get("features") or [], start=1):
        props = dict((feature or {}).get("properties") or {})
        geometry = (feature or {}).get("geometry") or {}
        coords = geometry.get("coordinates") if geometry.get("type") == "Point" else None
        if isinstance(coords, list) and len(coords) >= 2:
            props["longitude"], props["latitude"] = coords[0], coords[1]
        props.setdefault("access_hours", props.get("opening_hours", "24/7"))
        props.setdefault("notes", props.get("description", ""))
        rows.append((f"feature {i}", props))
    return rows


def _record(row: dict[str, Any]) -> AedRecord:
    aed_id = str(row.get("id") or "").strip()
    if not aed_id or len(aed_id) > 64:
        raise InvalidInput("id is required (at most 64 characters)")
    try:
        lat, lon = float(row.get("latitude", "")), float(row.get("longitude", ""))
    except (TypeError, ValueError):
        raise InvalidInput("latitude and longitude must be numbers") from None
    if not valid_position(lat, lon):
        raise InvalidInput(f"position {lat}, {lon} is not on Earth")
    hours = str(row.get("access_hours") or "24/7").strip()
    parse_hours(hours)  # refuse what availability could not be computed from
    return AedRecord(
        id=aed_id,
        latitude=lat,
        longitude=lon,
        address=str(row.get("address") or "").strip()[:200],
        access_hours=hours[:200],
        notes=str(row.get("notes") or "").strip(),
    )
