"""The device registry: enrolment adds the patient's devices in the same transaction; devices
are added and retired later (API and CLI); one active assignment per device; bad input gets a
clear 4xx with nothing stored; the patient's screens see when each device last sent data."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from telemed_cli.main import app
from tests.clinician_api.admin.test_admin_api import bearer, enrolment
from tests.clinician_api.patient_view.test_timeline_api import _iso, send
from tests.conftest import seed_world, token_for

CUFF = {"device_id": "omron-7361", "kind": "bp_monitor", "model": "Omron M7 Intelli IT",
        "serial": "20231104561", "ble_address": "a4:c1:38:2f:9b:10"}  # fmt: skip
SCALE = {"device_id": "scale-22", "kind": "scale", "model": "A&D UC-352BLE"}


async def test_an_enrolment_adds_the_patients_devices_paired_with_its_gateway(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url, headers=admin) as c:
        done = await c.post("/api/admin/enrolments", json=enrolment(devices=[CUFF, SCALE]))
        assert done.status_code == 201, done.text
        assert [d["device_id"] for d in done.json()["devices"]] == ["omron-7361", "scale-22"]
        listed = (await c.get("/api/patients/p7/devices")).json()
    by_id = {d["device_id"]: d for d in listed}
    assert by_id["omron-7361"]["ble_address"] == "A4:C1:38:2F:9B:10"  # normalised
    assert {d["gateway_id"] for d in listed} == {"gw-p7"}  # paired with the enrolled gateway
    assert {d["enrolled_by"] for d in listed} == {"admin"} and by_id["scale-22"][
        "last_data_at"
    ] is None


BAD_DEVICES: list[tuple[dict[str, Any], int, str]] = [
    ({"ble_address": "A4:C1:38:2F:9B"}, 400, "six hex pairs"),
    ({"ble_address": "zz:c1:38:2f:9b:10"}, 400, "six hex pairs"),
    ({"kind": "toaster"}, 400, "bp_monitor"),
    ({"model": ""}, 422, "model"),
    ({"device_id": "omron 7361"}, 422, "device_id"),
    ({"gateway_id": "gw-nowhere"}, 400, "no gateway"),
]


async def test_a_bad_device_refuses_the_whole_enrolment(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url, headers=admin) as c:
        for change, status, says in BAD_DEVICES:
            refused = await c.post("/api/admin/enrolments",
                                   json=enrolment(devices=[SCALE, {**CUFF, **change}]))  # fmt: skip
            assert refused.status_code == status, (change, refused.text)
            assert says in str(refused.json()["detail"]), (change, refused.text)
            assert (await c.get("/api/patients/p7")).status_code == 404  # nothing half-enrolled
        assert (
            await c.post("/api/admin/devices", json={**SCALE, "patient_id": "p1"})
        ).status_code == 201


async def test_one_active_assignment_per_device_and_address_until_retired(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url, headers=admin) as c:
        first = await c.post(
            "/api/admin/devices", json={**CUFF, "patient_id": "p1", "gateway_id": "bridge-p1"}
        )
        assert first.status_code == 201, first.text
        again = await c.post("/api/admin/devices", json={**CUFF, "patient_id": "p2"})
        assert again.status_code == 409 and "'p1'" in again.json()["detail"]
        same_radio = await c.post("/api/admin/devices",
                                  json={**CUFF, "device_id": "other", "patient_id": "p2"})  # fmt: skip
        assert same_radio.status_code == 409 and "BLE address" in same_radio.json()["detail"]
        assert (await c.get("/api/patients/p2/devices")).json() == []  # nothing stored
        assert (await c.post("/api/admin/devices/nope/retire")).status_code == 404
        retired = await c.post("/api/admin/devices/omron-7361/retire")
        assert retired.status_code == 200 and retired.json()["retired_by"] == "admin"
        assert (
            await c.post("/api/admin/devices", json={**CUFF, "patient_id": "p2"})
        ).status_code == 201
        assert (await c.get("/api/patients/p1/devices")).json() == []
        trail = (await c.get("/api/patients/p1/audit")).json()
    assert {(e["action"], e["entity_type"]) for e in trail} >= {
        ("create", "Device"),
        ("update", "Device"),
    }


async def test_the_patient_sees_their_devices_with_when_each_last_sent(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    admin = bearer(await token_for(hub, "admin"))
    async with httpx.AsyncClient(base_url=hub.url) as c:
        for device in (CUFF, SCALE):
            created = await c.post(
                "/api/admin/devices", json={**device, "patient_id": "p1"}, headers=admin
            )
            assert created.status_code == 201
        at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
        await send(hub, tokens["bridge-p1"], "p1", [
            {"kind": "bp_systolic", "value": 141.0, "unit": "mm[Hg]", "measured_at": _iso(at),
             "device_id": "omron-7361"}])  # fmt: skip
        patient = bearer(await token_for(hub, "pat1"))
        mine = {
            d["device_id"]: d
            for d in (await c.get("/api/patients/p1/devices", headers=patient)).json()
        }
        assert mine["scale-22"]["last_data_at"] is None
        assert datetime.fromisoformat(mine["omron-7361"]["last_data_at"]) >= at
        summary = (await c.get("/api/patients/p1/summary", headers=patient)).json()
        registered = [d for d in summary["devices"] if d["registered"]]
        assert [(d["device_id"], d["kind"]) for d in registered] == [
            ("omron-7361", "bp_monitor"), ("scale-22", "scale")]  # fmt: skip
        assert (await c.get("/api/patients/p2/devices", headers=patient)).status_code == 404
        refused = await c.post(
            "/api/admin/devices", json={**SCALE, "patient_id": "p1"}, headers=patient
        )
        assert refused.status_code == 403


def test_the_cli_adds_lists_and_retires_devices(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["device", "list", "p1", "--database-url", db]).output == ""
    asyncio.run(seed_world(db))  # on the schema the command migrated
    ok = runner.invoke(app, ["device", "add", "p1", "ox-9", "--kind", "pulse_oximeter",
                             "--model", "Nonin 3230", "--ble-address", "00:1c:05:ff:ee:01",
                             "--database-url", db])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["device", "add", "p1", "ox-10", "--kind", "pulse_oximeter",
                              "--model", "Nonin", "--ble-address", "00:1c:05", "--database-url", db])  # fmt: skip
    assert bad.exit_code == 2 and "six hex pairs" in bad.output
    listed = runner.invoke(app, ["device", "list", "p1", "--database-url", db])
    assert listed.output.splitlines() == [
        "ox-9\tpulse_oximeter\tNonin 3230\t-\t00:1C:05:FF:EE:01\t-"
    ]
    assert runner.invoke(app, ["device", "retire", "ox-9", "--database-url", db]).exit_code == 0
    assert runner.invoke(app, ["device", "list", "p1", "--database-url", db]).output == ""


async def test_on_postgresql_the_database_itself_keeps_one_active_assignment(
    postgres_url: str, run_hub: Any
) -> None:
    from sqlalchemy.exc import IntegrityError

    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.devices.models import RegisteredDevice

    hub = await run_hub(postgres_url)
    try:
        await seed_world(hub.settings.database_url)
        admin = bearer(await token_for(hub, "admin"))
        async with httpx.AsyncClient(base_url=hub.url, headers=admin) as c:
            assert (
                await c.post("/api/admin/devices", json={**CUFF, "patient_id": "p1"})
            ).status_code == 201
            assert (
                await c.post("/api/admin/devices", json={**CUFF, "patient_id": "p2"})
            ).status_code == 409
        engine = make_engine(hub.settings.database_url)
        try:  # past the service's check, e.g. two admins at once: the partial unique index
            with pytest.raises(IntegrityError):
                async with unit_of_work(make_sessionmaker(engine)) as s:
                    s.add(RegisteredDevice(device_id="omron-7361", kind="scale", model="x",
                                           patient_id="p2", enrolled_by="a", enrolled_at=datetime.now(UTC)))  # fmt: skip
        finally:
            await engine.dispose()
        async with httpx.AsyncClient(base_url=hub.url, headers=admin) as c:
            assert (await c.post("/api/admin/devices/omron-7361/retire")).status_code == 200
            assert (
                await c.post("/api/admin/devices", json={**CUFF, "patient_id": "p2"})
            ).status_code == 201
    finally:
        await hub.stop()
