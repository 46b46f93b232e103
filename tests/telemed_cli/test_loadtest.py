"""`telemed loadtest --json` as an operator runs it: it starts the embedded platform itself."""

from __future__ import annotations

import asyncio
import json
import sys

from telemed_cli.loadtest import Watch, note, percentile


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
        "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
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
    assert "readings and" in err.decode()  # progress on stderr
