"""Two real server processes on PostgreSQL + Redis: timers fire once; an accept made through
one process shows on a screen of the other within a second."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select

from alerts.engine.conditions import Trigger
from alerts.episodes import service as episodes
from alerts.episodes.models import AlertEvent
from alerts.policy.rules import Category, Priority
from clinician_api.migrate import upgrade_async
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from telemed_core.values import utc_now
from tests.alerts.helpers import next_alert
from tests.conftest import seed_world

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
N_ALERTS = 30


async def start_server(database_url: str, redis_url: str, prefix: str, name: str) -> Any:
    env = {
        **os.environ,
        "TELEMED_DATABASE_URL": database_url,
        "TELEMED_REDIS_URL": redis_url,
        "TELEMED_BUS_PREFIX": prefix,
        "TELEMED_WORKER_NAME": name,
        "TELEMED_ALERT_TIMER_POLL_S": "0.2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "serve", "--port", "0",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(240):  # a loaded CI machine starts slowly
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise RuntimeError(f"server {name} exited before it was ready")
            if line.startswith("TELEMED_READY"):
                return process, line.split()[1]


@pytest.fixture
async def two_servers(postgres_url: str, redis_url: str) -> AsyncIterator[tuple[str, list[str]]]:
    await upgrade_async(postgres_url)
    await seed_world(postgres_url)
    prefix = f"test:{uuid.uuid4().hex}:"
    started = [
        await start_server(postgres_url, redis_url, prefix, name) for name in ("proc-a", "proc-b")
    ]
    try:
        yield postgres_url, [url for _, url in started]
    finally:
        for process, _ in started:
            process.terminate()
            await process.wait()


async def open_alerts(database_url: str, n: int, opened_ago_s: float) -> list[int]:
    """``n`` high alerts of p1/p2 opened ``opened_ago_s`` ago (their first timeout is 120 s)."""
    engine = make_engine(database_url)
    ids: list[int] = []
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            for i in range(n):
                t = Trigger(
                    patient_id=("p1", "p2")[i % 2], rule=f"test_rule_{i}", title="test",
                    action="raise", at=utc_now(), priority=Priority.HIGH,
                    category=Category.CLINICAL, evidence_key=f"e{i}", source_kind="test",
                )  # fmt: skip
                [ep] = await episodes.apply(session, t, utc_now() - timedelta(seconds=opened_ago_s))
                ids.append(ep.id)
    finally:
        await engine.dispose()
    return ids


async def escalations(database_url: str) -> list[tuple[int, str]]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.scalars(select(AlertEvent).where(AlertEvent.action == "escalated"))
            return [(e.alert_id, e.actor) for e in rows]
    finally:
        await engine.dispose()


async def test_due_escalations_fire_exactly_once_with_two_processes(
    two_servers: tuple[str, list[str]],
) -> None:
    database_url, _ = two_servers
    ids = await open_alerts(database_url, N_ALERTS, opened_ago_s=119.0)  # due in ~1 s
    async with asyncio.timeout(30):
        while len(await escalations(database_url)) < N_ALERTS:
            await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # both processes polled at least 5 more times: nothing more fires
    fired = await escalations(database_url)
    assert sorted(alert_id for alert_id, _ in fired) == sorted(ids)


async def token(url: str, user: str) -> str:
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/auth/token", data={"username": user, "password": f"pw-{user}"})
        return str(r.raise_for_status().json()["access_token"])


async def test_an_accept_through_one_process_shows_on_a_screen_of_the_other_within_1_s(
    two_servers: tuple[str, list[str]],
) -> None:
    database_url, (url_a, url_b) = two_servers
    [alert_id] = await open_alerts(database_url, 1, opened_ago_s=0)
    ws_b = (
        url_b.replace("http://", "ws://")
        + f"/ws/monitor?access_token={await token(url_b, 'admin')}"
    )
    async with websockets.connect(ws_b) as screen_b:
        assert json.loads(await screen_b.recv())["type"] == "hello"
        headers = {"Authorization": f"Bearer {await token(url_a, 'nurse-a')}"}
        async with httpx.AsyncClient(base_url=url_a, headers=headers) as c:
            started = asyncio.get_running_loop().time()
            accepted = await c.post(f"/api/alerts/{alert_id}/accept")
            seen = await next_alert(screen_b, timeout_s=1.0, id=alert_id, state="accepted")
            elapsed = asyncio.get_running_loop().time() - started
    assert accepted.status_code == 200
    assert seen["accepted_by"] == "nurse-a" and elapsed < 1.0
