"""Replay and statistics through the API and ``telemed alerts replay``, over stored data."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from telemed_cli.main import app
from tests.alerts.episodes.test_endpoints import client, desat

__all__ = ["desat"]
PERIOD = {"since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z"}


async def test_replay_compares_a_proposed_policy_with_todays(
    hub: Any, desat: dict[str, Any]
) -> None:
    lower = {"policy": {"reading_rules": {"desaturation": {"trigger": 85}}}, **PERIOD}
    off = {"policy": {"disabled": ["desaturation"]}, **PERIOD}
    async with await client(hub, "admin") as c:
        lowered = (await c.post("/api/alerts/replay", json=lower)).json()
        disabled = (await c.post("/api/alerts/replay", json=off)).json()
    assert lowered["readings"] == 70
    assert lowered["current"]["by_rule"] == {"desaturation": 1}
    # 88 % is above a limit of 85 %; the library's sustained-low finding (< 90 % for 60 s) only
    # adds to an episode the reading rule opened, so it raises nothing by itself.
    assert lowered["proposed"]["by_rule"] == {}
    assert (disabled["proposed"]["alerts"], disabled["difference"]) == (0, -1)


async def test_replay_is_for_supervisors(hub: Any, desat: dict[str, Any]) -> None:
    async with await client(hub, "nurse-a") as c:
        response = await c.post("/api/alerts/replay", json={"policy": {}, **PERIOD})
    assert response.status_code == 403


async def test_stats_count_acceptance_and_false_alarms(hub: Any, desat: dict[str, Any]) -> None:
    async with await client(hub, "nurse-a") as c:
        await c.post(f"/api/alerts/{desat['id']}/accept")
        await c.post(f"/api/alerts/{desat['id']}/resolve", json={"outcome": "false_alarm"})
    async with await client(hub, "admin") as c:
        response = await c.get(
            "/api/alerts/stats",
            params={"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
        )
    [row] = response.json()
    assert (row["rule"], row["count"], row["accepted"], row["false_alarms"]) == (
        "desaturation",
        1,
        1,
        1,
    )
    assert row["acceptance_rate"] == 1.0 and row["median_time_to_accept_s"] >= 0


async def test_the_cli_prints_the_replay_report(
    hub: Any, desat: dict[str, Any], tmp_path: Path
) -> None:
    policy = tmp_path / "lower.json"
    policy.write_text(json.dumps({"disabled": ["desaturation"]}))
    args = ["alerts", "replay", "--policy", str(policy), "--since", PERIOD["since"],
            "--until", PERIOD["until"], "--database-url", hub.settings.database_url, "--json"]  # fmt: skip
    result = await asyncio.to_thread(CliRunner().invoke, app, args)  # it runs its own loop
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["current"]["alerts"], report["proposed"]["alerts"]) == (1, 0)


def test_the_cli_refuses_a_time_without_a_zone(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text("{}")
    args = [
        "alerts",
        "replay",
        "--policy",
        str(policy),
        "--since",
        "2026-12-01T00:00",
        "--until",
        "2026-12-02T00:00Z",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "time zone" in result.output
