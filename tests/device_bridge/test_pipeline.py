"""The bridge pipeline: a notification is parsed and committed once; nothing is dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from device_bridge import pipeline as pipeline_module
from device_bridge.outbox import Outbox
from device_bridge.pipeline import BridgePipeline, DeviceBinding

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HEART_RATE = "00002a37-0000-1000-8000-00805f9b34fb"
STRAP = DeviceBinding("AA:BB", "p1", "strap-1")


def setup(tmp_path: Path) -> tuple[Outbox, BridgePipeline, list[str]]:
    box = Outbox(tmp_path / "o.db")
    box.set_seq_base(0)
    statements: list[str] = []
    box._db.set_trace_callback(statements.append)
    return box, BridgePipeline(box, {"AA:BB": STRAP}), statements


def test_a_notification_is_parsed_and_stored_in_one_commit(tmp_path: Path) -> None:
    box, pipe, statements = setup(tmp_path)
    assert pipe.on_payload("AA:BB", HEART_RATE, bytes([0x00, 72]), AT) == 1
    assert statements.count("COMMIT") == 1
    [item] = box.pending(10)
    assert (item.payload["kind"], item.payload["value"]) == ("heart_rate", 72)
    assert box.raw_pending() == []


def test_a_malformed_notification_is_quarantined_with_its_bytes_in_one_commit(
    tmp_path: Path,
) -> None:
    box, pipe, statements = setup(tmp_path)
    assert pipe.on_payload("AA:BB", HEART_RATE, bytes([0x01, 72]), AT) == 0  # 16-bit HR cut
    assert statements.count("COMMIT") == 1
    [(device, _char, payload, _at, reason)] = box.quarantined()
    assert (device, payload, box.depth()) == ("AA:BB", bytes([0x01, 72]), 0)
    assert reason


def test_a_parser_bug_quarantines_the_notification_instead_of_losing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, pipe, _ = setup(tmp_path)

    def broken(_characteristic: str, _payload: bytes) -> list[object]:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pipeline_module, "decode", broken)
    assert pipe.on_payload("AA:BB", HEART_RATE, bytes([0x00, 72]), AT) == 0
    [(_d, _c, payload, _at, reason)] = box.quarantined()
    assert payload == bytes([0x00, 72])
    assert reason == "parser error ZeroDivisionError: division by zero"


def test_raw_rows_left_by_an_older_bridge_are_parsed_on_recover(tmp_path: Path) -> None:
    box, pipe, _ = setup(tmp_path)
    box.record_raw("AA:BB", HEART_RATE, bytes([0x00, 64]), AT)
    assert pipe.recover() == 1
    assert box.raw_pending() == [] and box.pending(10)[0].payload["value"] == 64
