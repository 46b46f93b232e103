"""Where the tests find PhysioNet recordings (tests/physionet.py) and the subset's size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import physionet


def test_a_record_the_subset_carries_is_read_from_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(physionet.ENV, str(tmp_path))
    assert physionet.record("mitdb", "100") == physionet.SUBSET / "mitdb" / "100"


def test_a_record_only_in_the_full_sets_is_read_from_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mitdb").mkdir()
    (tmp_path / "mitdb" / "102.hea").write_text("102 2 360 650000\n")
    monkeypatch.setenv(physionet.ENV, str(tmp_path))
    assert physionet.record("mitdb", "102") == tmp_path / "mitdb" / "102"


def test_annotations_alone_do_not_stand_for_a_signal_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(physionet.ENV, str(tmp_path))
    monkeypatch.setattr(physionet, "IN_CI", False)
    assert physionet.record("mitdb", "102", ext="atr") == physionet.SUBSET / "mitdb" / "102"
    with pytest.raises(pytest.skip.Exception, match=r"needs mitdb/102\.hea"):
        physionet.record("mitdb", "102")


def test_a_missing_record_skips_saying_how_to_provide_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(physionet.ENV, str(tmp_path))
    monkeypatch.setattr(physionet, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        physionet.full("challenge2015", "ALARMS")
    message = str(skipped.value)
    assert "test_a_missing_record_skips_saying_how_to_provide_it" in message
    assert "challenge2015/ALARMS" in message and str(tmp_path) in message
    assert physionet.ENV in message


def test_a_missing_record_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(physionet.ENV, str(tmp_path))
    monkeypatch.setattr(physionet, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="mandatory in CI"):
        physionet.full("challenge2015", "ALARMS")


def test_the_shipped_subset_stays_within_15_mb() -> None:
    size = sum(p.stat().st_size for p in physionet.SUBSET.rglob("*") if p.is_file())
    assert 5_000_000 < size <= 15_000_000, size
