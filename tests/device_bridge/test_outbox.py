"""The bridge's durable outbox: order, sequence numbers, durability across reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from device_bridge.outbox import Outbox, OutboxError, SeqBaseUnknown


def items(n: int) -> list[tuple[str, dict[str, object]]]:
    return [("reading", {"i": i}) for i in range(n)]


def numbered(path: Path, seq_base: int = 0) -> Outbox:
    box = Outbox(path)
    box.set_seq_base(seq_base)
    return box


def test_items_get_increasing_sequence_numbers_in_order(tmp_path: Path) -> None:
    box = numbered(tmp_path / "o.db")
    assert box.append(items(3)) == [1, 2, 3]  # type: ignore[arg-type]
    assert [i.seq for i in box.pending(10)] == [1, 2, 3]
    assert [i.payload["i"] for i in box.pending(2)] == [0, 1]
    assert [i.seq for i in box.pending(2, newest_first=True)] == [3, 2]


def test_sequence_numbers_are_never_reused_after_delete(tmp_path: Path) -> None:
    box = numbered(tmp_path / "o.db")
    box.append(items(3))  # type: ignore[arg-type]
    box.delete([1, 2, 3])
    assert box.depth() == 0
    assert box.append(items(1)) == [4]  # type: ignore[arg-type]


def test_pending_items_survive_reopening(tmp_path: Path) -> None:
    box = numbered(tmp_path / "o.db")
    box.append(items(5))  # type: ignore[arg-type]
    box.delete([1, 2])
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert [i.seq for i in again.pending(10)] == [3, 4, 5]
    assert again.append(items(1)) == [6]  # type: ignore[arg-type]


def test_a_new_outbox_sends_nothing_before_the_hub_reserves_its_numbers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "new.db")
    box.append(items(2))  # type: ignore[arg-type]
    assert box.seq_base is None and box.depth() == 2
    with pytest.raises(SeqBaseUnknown, match="reserves them"):
        box.pending(10)


def test_items_captured_before_the_reservation_are_numbered_in_the_reserved_block(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "new.db")
    box.append(items(3))  # type: ignore[arg-type]
    box.set_seq_base(7 * 2**40)
    assert [i.seq for i in box.pending(10)] == [7 * 2**40 + n for n in (1, 2, 3)]
    box.delete([7 * 2**40 + 1])
    assert [i.payload["i"] for i in box.pending(10)] == [1, 2]
    assert box.highest_seq() == 7 * 2**40 + 3


def test_the_reserved_numbers_survive_reopening_and_never_change(tmp_path: Path) -> None:
    numbered(tmp_path / "o.db", 2**40).close()
    again = Outbox(tmp_path / "o.db")
    assert again.seq_base == 2**40
    again.set_seq_base(2**40)  # the same reservation again is harmless
    with pytest.raises(OutboxError, match="numbered from"):
        again.set_seq_base(2 * 2**40)


def test_an_outbox_file_of_an_older_bridge_keeps_its_numbers(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.db")
    db.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, item_kind TEXT NOT NULL, "
        "payload TEXT NOT NULL);"
        "INSERT INTO outbox (item_kind, payload) VALUES ('reading', '{\"i\": 0}');"
    )
    db.close()
    box = Outbox(tmp_path / "old.db")
    assert box.seq_base == 0
    assert [i.seq for i in box.pending(10)] == [1]
