"""`telemed loadtest --json` as an operator runs it: it starts the embedded platform itself."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from telemed_cli import loadtest
from telemed_cli.loadtest import Watch, note, percentile
from telemed_cli.loadtest_generators import COUNTERS, merge
from telemed_cli.loadtest_platform import Platform
from telemed_cli.simulate import SimBridge
from tests.conftest import POSTGRES_URL, token_for
from tests.device_bridge.test_uplink import drain, fill


def test_percentiles_are_taken_from_the_sorted_values() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (
        51.0,
        100.0,
        None,
    )


def test_alert_latency_runs_from_the_patients_newest_reading_on_the_monitor() -> None:
    seen = Watch()
    reading = {"patient_id": "p1", "received_at": "2026-12-07T10:00:00+00:00", "flags": []}
    note({"readings": [reading]}, seen, 1796637600.25)  # 250 ms after it was received
    note({"findings": [{"patient_id": "p1"}]}, seen, 1796637600.75)
    assert seen.latencies_ms == [250.0] and seen.finding_latencies_ms == [500.0]
    alert = {"id": 7, "patient_id": "p1", "state": "active"}
    note({"alerts": [alert]}, seen, 1796637601.25)
    note({"alerts": [alert, {**alert, "state": "accepted"}]}, seen, 1796637602.0)  # seen before
    assert seen.alert_latencies_ms == [1000.0] and seen.alerts == 1 and seen.findings == 1


async def test_loadtest_json_reports_what_was_stored_and_how_fast() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "loadtest", "--patients", "3", "--seconds", "3",
        "--ecg-streams", "2", "--generators", "2", "--json", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["readings_sent"] > 0
    assert report["readings_stored"] == report["readings_sent"] and report["duplicates"] == 0
    assert report["readings_per_s"] > 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert set(report["alert_latency_ms"]) == {"p50", "p99"}
    assert report["server_rss_mib"] > 0
    assert report["ecg_streams"] == 2 and report["worker_backlog_s"] is not None
    assert report["generators"] == 2 and report["batches_resent"] == 0
    assert 0 < report["ack_latency_ms"]["p50"] <= report["ack_latency_ms"]["p99"]
    assert "readings and" in err.decode()  # progress on stderr


async def test_the_bridges_start_only_once_the_monitor_socket_is_open(
    hub: Any, seed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1,000-patient run saw 0 readings on its monitor: the monitor socket was still opening
    when the load generator built its bridges (blocking its loop for seconds) and the hub took
    their handshakes, its opening handshake timed out, and the watcher gave up for the run."""
    tokens = await seed(hub.settings.database_url)
    fanout = hub._server.config.app.state.fanout
    screens_when_bridges_start: list[int] = []

    async def generators(specs: list[dict[str, Any]]) -> dict[str, Any]:
        screens_when_bridges_start.append(len(fanout._screens))
        nothing = {"produced": 0, "set_up_at": 0.0, "started_at": 0.0, "finished_at": 1.0,
                   "ack_ms": [], **dict.fromkeys(COUNTERS, 0)}  # fmt: skip
        return merge([nothing])

    monkeypatch.setattr(loadtest, "run_generators", generators)
    bridge = SimBridge("bridge-p1", "p1", tokens["bridge-p1"])
    platform = Platform(hub.url, [hub.url], "pw-admin", [bridge])
    report = await loadtest.measure(platform, 1, 1, tmp_path)
    assert screens_when_bridges_start == [1]  # the admin's monitor was open and counted
    assert report["monitor_error"] is None and report["monitor_reconnects"] == 0


async def test_a_monitor_socket_that_drops_is_opened_again_and_keeps_counting(
    hub: Any, seed: Any, cutting_proxy: Any, tmp_path: Path
) -> None:
    tokens = await seed(hub.settings.database_url)
    seen, stop = Watch(), asyncio.Event()
    token = await token_for(hub, "admin")
    watcher = asyncio.create_task(loadtest.watch(cutting_proxy.url, token, seen, stop))
    try:
        await asyncio.wait_for(seen.open.wait(), 30)
        seen.open.clear()
        assert cutting_proxy.cut() == 1  # the monitor's connection, cut
        await asyncio.wait_for(seen.open.wait(), 30)  # and opened again
        box = Outbox(tmp_path / "o.db")
        fill(box, 50)
        await drain(Uplink(hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box))
        async with asyncio.timeout(30):  # the readings sent after the cut are counted
            while seen.readings < 50:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await watcher
    assert seen.reconnects == 1 and seen.error is not None


@pytest.mark.postgres
@pytest.mark.redis
async def test_loadtest_cluster_measures_a_cluster_on_postgres_and_redis(redis_url: str) -> None:
    """``--cluster`` starts ``telemed cluster`` on a fresh database of the PostgreSQL server,
    measures it like the embedded platform, and removes the database and its bus keys."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "loadtest", "--cluster", "--patients", "4",
        "--seconds", "3", "--ingest", "1", "--workers", "1", "--api", "1", "--json",
        env={**os.environ, "TELEMED_DATABASE_URL": POSTGRES_URL, "TELEMED_REDIS_URL": redis_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["readings_sent"] > 0 and report["duplicates"] == 0
    assert report["readings_stored"] == report["readings_sent"]
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert set(report["alert_latency_ms"]) == {"p50", "p99"}
    assert report["monitor_error"] is None and report["readings_on_monitor"] > 0
    assert set(report["nodes"]) == {"ingest-1", "worker-1", "api-1"}
    assert report["server_rss_mib"] > 100  # three server processes
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        left = await conn.fetch("SELECT 1 FROM pg_database WHERE datname = $1", report["database"])
    finally:
        await conn.close()
    assert not left


async def test_enrolment_through_the_admin_api_makes_each_patient_and_bridge_once(
    hub: Any, seed: Any
) -> None:
    """``--hub`` enrols through the API, several requests in flight at once."""
    from telemed_cli.simulate import enrol

    await seed(hub.settings.database_url)
    bridges = await enrol(hub.url, "admin", "pw-admin", 12, prefix="sim-ecg")
    assert [b.bridge_id for b in bridges] == [f"sim-ecg-bridge-{i}" for i in range(1, 13)]
    assert [b.patient_id for b in bridges] == [f"sim-ecg-{i}" for i in range(1, 13)]
    assert len({b.token for b in bridges}) == 12


def test_one_patient_in_twenty_plays_a_hypertensive_crisis() -> None:
    from device_bridge.simulator import SCENARIOS, SimulatedPatient

    patient = SimulatedPatient("sim-2", seed=1, scenario=loadtest.CRISIS)
    assert loadtest.CRISIS in SCENARIOS and patient.body.sbp_mmhg >= 180
