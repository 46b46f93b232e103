"""AED registry files: CSV and GeoJSON, all or nothing, and the `telemed aed import` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.dispatch.aed_import import parse_aeds
from alerts.dispatch.models import Aed
from patient_hub.db import make_engine, make_sessionmaker
from telemed_core.errors import InvalidInput

CSV = """id,latitude,longitude,address,access_hours,notes
aed-1,49.8346,18.2820,Prokešovo náměstí 8,Mo-Fr 07:00-18:00,in the town hall lobby
aed-2,49.8357,18.2925,Masarykovo náměstí,24/7,wall cabinet
"""


def test_a_csv_registry_is_read_whole() -> None:
    aeds = parse_aeds(CSV, "aeds.csv")
    assert [a.id for a in aeds] == ["aed-1", "aed-2"]
    assert aeds[0].notes == "in the town hall lobby" and aeds[0].latitude == 49.8346


def test_a_geojson_registry_takes_osm_property_names() -> None:
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [18.282, 49.8346]},
        "properties": {"id": "aed-1", "opening_hours": "Mo-Fr 07:00-18:00",
                       "description": "in the town hall lobby"}}]}  # fmt: skip
    (aed,) = parse_aeds(json.dumps(doc), "aeds.geojson")
    assert (aed.latitude, aed.longitude) == (49.8346, 18.282)
    assert aed.access_hours == "Mo-Fr 07:00-18:00" and aed.notes == "in the town hall lobby"


def test_a_file_with_bad_rows_is_refused_whole_naming_each_line() -> None:
    bad = CSV + "aed-3,91,18.3,x,24/7,\naed-4,49.8,18.3,x,Mo 9-5,\naed-1,49.8,18.3,x,24/7,\n"
    with pytest.raises(InvalidInput) as info:
        parse_aeds(bad, "aeds.csv")
    message = info.value.message
    assert "nothing imported" in message
    assert "line 4: position" in message and "line 5: access hours" in message
    assert "line 6: duplicate id 'aed-1'" in message


def test_the_command_imports_and_updates_by_id(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    path = tmp_path / "aeds.csv"
    path.write_text(CSV)
    run = [
        sys.executable,
        "-m",
        "telemed_cli.main",
        "aed",
        "import",
        str(path),
        "--database-url",
        db,
    ]
    first = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "imported 2 AEDs" in first.stdout
    path.write_text(CSV.replace("wall cabinet", "moved inside the museum"))
    assert subprocess.run(run, capture_output=True, timeout=120, cwd=tmp_path).returncode == 0
    path.write_text(CSV + "aed-9,north,18.3,x,24/7,\n")
    refused = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert refused.returncode != 0 and "line 4: latitude" in refused.stderr

    import asyncio

    async def stored() -> dict[str, str]:
        engine = make_engine(db)
        try:
            async with make_sessionmaker(engine)() as s:
                return {a.id: a.notes for a in await s.scalars(select(Aed))}
        finally:
            await engine.dispose()

    assert asyncio.run(stored()) == {
        "aed-1": "in the town hall lobby",
        "aed-2": "moved inside the museum",
    }
