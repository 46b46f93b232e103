"""A bridge run as a service: structured logs of link changes, refusals, backlog growth and the
radio; ``bridge pair`` checks the address and the patient on the hub."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from device_bridge.link.port import LinkError
from device_bridge.outbox import Outbox
from device_bridge.runner import BridgeRunner, RadioStatus, ble_source
from device_bridge.settings import BridgeSettings
from device_bridge.uplink import Uplink
from tests.device_bridge.test_uplink import fill

TELEMED = [sys.executable, "-m", "telemed_cli.main"]


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    found = []
    for record in caplog.records:
        if record.name == "telemed.bridge":
            body = json.loads(record.getMessage())
            if body["event"] == name:
                found.append(body)
    return found


async def test_a_refused_batch_is_logged_with_its_reason(
    hub: Any, seed: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telemed.bridge")
    tokens = await seed(hub.settings.database_url)
    box = Outbox(tmp_path / "o.db")
    fill(box, 3, patient="p3")  # not this bridge's patient: the hub refuses the batch
    uplink = Uplink(hub.ws_url + "/ws/bridge", "bridge-p1", tokens["bridge-p1"], box)
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    while not events(caplog, "batch_refused"):
        await asyncio.sleep(0.05)
    stop.set()
    await task
    refused = events(caplog, "batch_refused")[0]
    assert (refused["code"], refused["items"], refused["outbox_depth"]) == ("forbidden", 3, 3)
    assert "p3" in refused["message"]
    box.close()


async def test_the_link_going_down_and_backlog_growth_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telemed.bridge")
    settings = BridgeSettings(
        hub_url="http://127.0.0.1:9", bridge_id="b1", token="t", state_dir=tmp_path
    )
    runner = BridgeRunner(settings, [])
    fill(runner.outbox, 150)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    while not (events(caplog, "backlog") and events(caplog, "link")):
        await asyncio.sleep(0.05)
    stop.set()
    await task
    backlog = events(caplog, "backlog")[0]
    assert backlog["outbox_depth"] == 150
    changes = [(e["from"], e["to"]) for e in events(caplog, "link")]
    assert ("idle", "connecting") in changes
    assert ("connecting", "backoff") in changes
    assert "reason" in next(e for e in events(caplog, "link") if e["to"] == "backoff")
    assert events(caplog, "bridge_stopped")[0]["outbox_depth"] == 150


class NoAdapterLink:
    """A link whose adapter is missing, as bleak reports it on a machine without one."""

    async def scan(self, *_: object) -> list[object]:
        raise LinkError("", "scan: BleakError: No Bluetooth adapters found.")


async def test_the_status_says_no_bluetooth_adapter_rather_than_online(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telemed.bridge")
    settings = BridgeSettings(bridge_id="b1", token="t", state_dir=tmp_path)
    radio = RadioStatus()
    source = ble_source(None, radio, link_factory=lambda _: NoAdapterLink())  # type: ignore[arg-type,return-value]
    runner = BridgeRunner(settings, [source], radio)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    while not events(caplog, "radio") or runner.status().radio == "probing":
        await asyncio.sleep(0.05)
    assert runner.status().radio == "no Bluetooth adapter"
    assert "No Bluetooth adapters found" in events(caplog, "radio")[-1]["detail"]
    stop.set()
    await task


def _pair(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
    return subprocess.run(
        [*TELEMED, "bridge", "pair", *args, "--state-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_pair_refuses_a_malformed_address(tmp_path: Path) -> None:
    done = _pair("AA:BB:CC", "--patient", "p1", "--no-check-hub", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "is not a Bluetooth address" in done.stdout
    assert not (tmp_path / "bindings.json").exists()


async def test_pair_checks_that_the_hub_knows_the_patient(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    tokens = await seed(hub.settings.database_url)
    creds = ["--hub", hub.url, "--bridge-id", "bridge-p1", "--token", tokens["bridge-p1"]]
    unknown = await asyncio.to_thread(
        _pair, "00:1C:05:FF:E8:74", "--patient", "p3", *creds, tmp_path=tmp_path
    )
    known = await asyncio.to_thread(
        _pair, "00:1c:05:ff:e8:74", "--patient", "p1", *creds, tmp_path=tmp_path
    )
    assert unknown.returncode == 2
    assert "knows no patient 'p3' for bridge bridge-p1 (it serves p1)" in unknown.stdout
    assert known.returncode == 0, known.stdout + known.stderr
    assert "paired 00:1C:05:FF:E8:74 → patient p1" in known.stdout
