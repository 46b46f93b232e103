"""The bridge's durable outbox: order, sequence numbers, durability across reopen."""

from __future__ import annotations

from pathlib import Path

from device_bridge.outbox import Outbox


def items(n: int) -> list[tuple[str, dict[str, object]]]:
    return [("reading", {"i": i}) for i in range(n)]


def test_items_get_increasing_sequence_numbers_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.append(items(3)) == [1, 2, 3]  # type: ignore[arg-type]
    assert [i.seq for i in box.pending(10)] == [1, 2, 3]
    assert [i.payload["i"] for i in box.pending(2)] == [0, 1]
    assert [i.seq for i in box.pending(2, newest_first=True)] == [3, 2]


def test_sequence_numbers_are_never_reused_after_delete(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append(items(3))  # type: ignore[arg-type]
    box.delete([1, 2, 3])
    assert box.depth() == 0
    assert box.append(items(1)) == [4]  # type: ignore[arg-type]


def test_pending_items_survive_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append(items(5))  # type: ignore[arg-type]
    box.delete([1, 2])
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert [i.seq for i in again.pending(10)] == [3, 4, 5]
    assert again.append(items(1)) == [6]  # type: ignore[arg-type]


def test_a_fresh_outbox_continues_above_the_hubs_high_water_mark(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "new.db")
    box.advance_to(41)
    assert box.append(items(1)) == [42]  # type: ignore[arg-type]
    box.advance_to(10)  # never goes back
    assert box.append(items(1)) == [43]  # type: ignore[arg-type]
