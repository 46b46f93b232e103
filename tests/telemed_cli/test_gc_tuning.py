"""``telemed serve`` tunes the garbage collector (telemed_cli/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from telemed_cli import gc_tuning


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_startup_objects_are_frozen_and_young_ones_collected_less_often(restored: None) -> None:
    gc_tuning.tune()
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc_tuning.freeze_startup() > 10_000  # at least this test process's modules
    young = [[i] for i in range(100)]
    assert all(gc.is_tracked(x) for x in young)  # made after the freeze: still collectable
