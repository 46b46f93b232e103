"""`telemed kiosk setup`: an admin's one-time enrolment token makes this PC a kiosk."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

from telemedpoint_kiosk.store import KioskStore


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "kiosk", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_kiosk_setup_spends_an_enrolment_token_and_stores_the_identity(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post("/auth/token", data={"username": "admin", "password": "pw-admin"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = await client.post(
            "/api/kiosks/enrolment-tokens", json={"telemedpoint_id": "tmp-b"}, headers=headers
        )
    token = made.json()["enrolment_token"]
    state = tmp_path / "kiosk"
    code, out = await run_cli(
        "setup", "--hub", hub.url, "--token", token, "--state-dir", str(state)
    )
    assert code == 0, out
    identity = KioskStore(state / "kiosk.db").identity()
    assert (identity["telemedpoint_id"], identity["bridge_id"]) == ("tmp-b", "kiosk-tmp-b-1")
    again, said = await run_cli(
        "setup", "--hub", hub.url, "--token", token, "--state-dir", str(state)
    )
    assert again == 2 and "already used" in said
