"""`telemed demo`: one process, seeded accounts, simulated patients, screens up within 60 s."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import httpx


async def test_demo_serves_the_monitor_with_live_data_within_60_s(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "demo", "--port", "0", "--patients", "2",
        "--kiosk-port", "0",
        "--database-url", f"sqlite:///{tmp_path / 'demo.db'}",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    printed = ""
    try:
        while not (match := re.search(r"TELEMED_READY (\S+)", printed)):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, f"demo exited early:\n{printed}"
            printed += line
        url = match.group(1)
        assert f"{url}/monitor" in printed and f"{url}/login" in printed
        async with httpx.AsyncClient(base_url=url, follow_redirects=True) as client:
            login = await client.post(
                "/login", data={"username": "cardiologist", "password": "demo"}
            )
            assert login.status_code == 200 and "Group monitor" in login.text
            assert time.monotonic() - started < 60
            for _ in range(100):
                snapshot = (await client.get("/api/monitor/snapshot")).json()
                if {r["patient_id"] for r in snapshot["latest"]} == {"demo-1", "demo-2"}:
                    break
                await asyncio.sleep(0.2)
        assert {p["id"] for p in snapshot["patients"]} == {"demo-1", "demo-2"}
        assert {r["patient_id"] for r in snapshot["latest"]} == {"demo-1", "demo-2"}
        for role in ("patient", "nurse", "cardiologist", "responder", "dispatcher", "admin"):
            assert re.search(rf"│ {role}\s+│ {role}\s+│", printed), role
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def test_demo_starts_a_kiosk_where_the_demo_nurse_signs_in(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "demo", "--port", "0", "--patients", "1",
        "--kiosk-port", "0", "--database-url", f"sqlite:///{tmp_path / 'demo.db'}",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    printed = ""
    try:
        while "TELEMED_READY" not in printed:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, f"demo exited early:\n{printed}"
            printed += line
        match = re.search(r"Kiosk \(nurse\):\s+(\S+)", printed)
        assert match, printed
        async with httpx.AsyncClient(base_url=match.group(1), follow_redirects=True) as client:
            signed_in = await client.post("/login", data={"username": "nurse", "password": "demo"})
            assert signed_in.status_code == 200 and "Najít pacienta" in signed_in.text
            found = await client.get("/patients", params={"q": "Berzina"})
            assert "Berzina" in found.text  # the telemedpoint's patients came from the hub
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
