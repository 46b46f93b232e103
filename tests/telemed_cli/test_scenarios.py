"""Every scenario, run against a live hub, raises exactly its expected episode, with its
explanation, reachable through GET /api/alerts and pushed to the monitor socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from telemed_cli.simulate import SimBridge, run_bridges
from tests.conftest import seed_world, token_for

pytestmark = pytest.mark.slow
#: Scenario → the one alert it must raise (a medium one may have resolved itself when the
#: condition cleared). missed-measurement is tested in tests/alerts/adherence (it takes hours
#: of schedule, or a minute-scale schedule: tests/telemed_cli/test_scenarios.py keeps to 2 min).
EXPECTED = {
    "desaturation": "desaturation",
    "tachycardia": "tachycardia",
    "af": "atrial_fibrillation",
    "asystole": "cardiac_arrest",
    "ventricular-fibrillation": "cardiac_arrest",
    "hypertensive-crisis": "hypertensive_crisis",
    "weight-gain": "weight_gain",
    "device-offline": "device_offline",
    "battery-low": "battery_low",
}
# AF is reported after its beat-majority vote (~80 beats) and its 30 s minimum episode: about
# 85 s into the scenario, which starts at 5 s.
RUN_S = 125


async def enrol(hub: Any, headers: dict[str, str]) -> list[SimBridge]:
    bridges = []
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as c:
        for name in EXPECTED:
            pid = f"s-{name}"
            body = {"id": pid, "display_name": name, "programme": "heart_failure"}
            (await c.post("/api/patients", json=body)).raise_for_status()
            reply = await c.post("/api/bridges", json={"bridge_id": f"b-{name}", "patient_id": pid})
            bridges.append(SimBridge(f"b-{name}", pid, reply.raise_for_status().json()["token"]))
    return bridges


async def collect(ws_url: str, pushed: dict[str, set[str]]) -> None:
    async with websockets.connect(ws_url) as monitor:
        async for text in monitor:
            frame = json.loads(text)
            for alert in frame.get("alerts", ()):
                pushed.setdefault(alert["patient_id"], set()).add(alert["rule"])


async def test_each_scenario_raises_exactly_its_episode_on_a_live_hub(
    run_hub: Any, tmp_path: Path
) -> None:
    hub = await run_hub(
        f"sqlite:///{tmp_path / 'hub.db'}", alert_device_offline_s=45.0, alert_sweep_s=2.0
    )
    try:
        await seed_world(hub.settings.database_url)
        token = await token_for(hub, "admin")
        headers = {"Authorization": f"Bearer {token}"}
        bridges = await enrol(hub, headers)
        pushed: dict[str, set[str]] = {}
        listener = asyncio.create_task(
            collect(f"{hub.ws_url}/ws/monitor?access_token={token}", pushed)
        )
        await run_bridges(
            hub.url, bridges, seconds=RUN_S, outbox_dir=tmp_path / "outbox",
            scenarios={b.patient_id: b.patient_id[2:] for b in bridges}, scenario_start_s=5,
        )  # fmt: skip
        await asyncio.sleep(3)  # the last sweep (every 2 s) and the last pushes
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        async with httpx.AsyncClient(base_url=hub.url, headers=headers) as c:
            listed = (await c.get("/api/alerts")).json()
        alerts = [a for a in listed if a["state"] != "merged"]  # folded into a cardiac arrest
    finally:
        await hub.stop()
    raised = {name: [a for a in alerts if a["patient_id"] == f"s-{name}"] for name in EXPECTED}
    assert {name: sorted(a["rule"] for a in found) for name, found in raised.items()} == {
        name: [rule] for name, rule in EXPECTED.items()
    }
    for name, [alert] in raised.items():
        assert alert["explanation"].get("why"), name
        assert EXPECTED[name] in pushed.get(f"s-{name}", set()), name
