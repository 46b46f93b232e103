"""`telemed serve`: safe on first start, and every role stops promptly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
import websockets

from telemed_cli.commands.serve import GC_THRESHOLDS

TELEMED = [sys.executable, "-m", "telemed_cli.main"]
FORMERLY_PUBLISHED_KEY = "dev-only-secret-change-me-0123456789abcdef"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
    return {**env, **extra}


async def _start(
    *args: str, env: dict[str, str], cwd: Path
) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *TELEMED, "serve", "--port", "0", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    printed = ""
    while not (match := re.search(r"TELEMED_READY (\S+)", printed)):
        line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
        assert line, f"serve exited early:\n{printed}"
        printed += line
    return proc, match.group(1)


def _other_address() -> str | None:
    """An address of this machine other than loopback (None: it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def test_a_fresh_serve_listens_on_loopback_only_with_a_key_nobody_knows(
    tmp_path: Path,
) -> None:
    proc, url = await _start(env=_clean_env(), cwd=tmp_path)
    try:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        assert host == "127.0.0.1"
        other = _other_address()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, int(port)), timeout=2).close()
        forged = jwt.encode(
            {"sub": "usr_any", "sid": "ses_any", "role": "admin", "exp": int(time.time()) + 600},
            FORMERLY_PUBLISHED_KEY,
        )
        async with httpx.AsyncClient(base_url=url) as client:
            me = await client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})
        assert me.status_code == 401
        assert (tmp_path / "var" / "telemed.db").exists()  # the key lives with the data
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)


async def _stop_time(proc: asyncio.subprocess.Process, sig: int) -> float:
    started = time.monotonic()
    proc.send_signal(sig)
    await asyncio.wait_for(proc.wait(), 30)
    return time.monotonic() - started


async def _open_monitor(url: str, env: dict[str, str]) -> object:
    """A signed-in monitor websocket that stays open (what held a server up at Ctrl-C)."""
    add = await asyncio.create_subprocess_exec(
        *TELEMED, "user", "add", "watcher", "--role", "admin", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await add.communicate(b"tiger-lamp-ocean-47\n")
    async with httpx.AsyncClient(base_url=url) as client:
        token = (
            await client.post(
                "/auth/token", data={"username": "watcher", "password": "tiger-lamp-ocean-47"}
            )
        ).json()["access_token"]
    socket_ = await websockets.connect(
        url.replace("http", "ws") + f"/ws/monitor?access_token={token}"
    )
    assert json.loads(await socket_.recv())["type"] == "hello"
    return socket_


async def test_serve_on_sqlite_stops_within_seconds_of_sigint_with_a_screen_open(
    tmp_path: Path,
) -> None:
    env = _clean_env(TELEMED_DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}")
    proc, url = await _start(env=env, cwd=tmp_path)
    monitor = await _open_monitor(url, env)
    try:
        assert await _stop_time(proc, signal.SIGINT) < 10
        assert proc.returncode == 0
    finally:
        await monitor.close()  # type: ignore[attr-defined]


async def _connections_to(postgres_url: str) -> int:
    import asyncpg

    name = postgres_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(postgres_url.rsplit("/", 1)[0] + "/postgres")
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("role", ["all", "api", "worker"])
async def test_serve_on_postgres_and_redis_exits_within_10_s_of_sigterm_and_closes_connections(
    role: str, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    env = _clean_env(
        TELEMED_DATABASE_URL=postgres_url,
        TELEMED_REDIS_URL=redis_url,
        TELEMED_BUS_PREFIX=f"stop:{uuid.uuid4().hex}:",
    )
    proc, url = await _start("--role", role, env=env, cwd=tmp_path)
    monitor = await _open_monitor(url, env) if role != "worker" else None
    try:
        assert await _stop_time(proc, signal.SIGTERM) < 10
        assert proc.returncode == 0
        assert await _connections_to(postgres_url) == 0
    finally:
        if monitor is not None:
            await monitor.close()  # type: ignore[attr-defined]


def test_a_started_server_freezes_its_start_up_heap_and_collects_young_objects_rarely() -> None:
    code = (
        "import gc; from telemed_cli.commands.serve import GC_THRESHOLDS, tune_gc; "
        "before = gc.get_freeze_count(); tune_gc(); "
        "print(gc.get_threshold() == GC_THRESHOLDS, before == 0 < gc.get_freeze_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
    assert GC_THRESHOLDS[0] > 700 and GC_THRESHOLDS[2] > 10  # rarer than CPython's default
