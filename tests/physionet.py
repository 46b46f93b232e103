"""Where the tests find PhysioNet recordings.

Two places, one rule. The project carries a small subset (``tests/data/physionet``, see its
README for the records, attribution and licences) that the core accuracy tests run on, so a
fresh clone passes ``make test`` on its own. The full development sets live in the folder named
by ``TELEMED_PHYSIONET_DIR`` (default ``../shared/data/physionet`` beside the repository, the
same setting the benchmarks read in ``bench/_physionet.py``). A test that needs a record the
subset does not carry is skipped, with one line saying what is missing and how to provide it;
with ``CI=true`` it fails instead, so CI always runs everything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "TELEMED_PHYSIONET_DIR"
REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO / "tests" / "data" / "physionet"
DEFAULT_FULL = REPO.parent / "shared" / "data" / "physionet"
IN_CI = os.environ.get("CI", "").lower() == "true"


def full_dir() -> Path:
    """The folder named by ``TELEMED_PHYSIONET_DIR``, else the default (it may not exist)."""
    return Path(os.environ.get(ENV) or DEFAULT_FULL).expanduser()


def _present(path: Path, ext: str | None) -> bool:
    """A folder or file, or (``ext`` given) the file ``ext`` of a WFDB record."""
    return (path.with_name(f"{path.name}.{ext}") if ext else path).exists()


def full(*parts: str, ext: str | None = None) -> Path:
    """A path inside the full development sets; skips the test (fails it in CI) when absent.

    For a WFDB record give its name without extension and, in ``ext``, the file the test reads
    (``hea`` for signals, ``atr`` or ``qrs`` for annotations).
    """
    path = full_dir().joinpath(*parts)
    if _present(path, ext):
        return path
    missing = "/".join(parts) + (f".{ext}" if ext else "")
    # Named per test, so the skip summary lists every test that did not run.
    test = (
        os.environ.get("PYTEST_CURRENT_TEST", "").removesuffix(" (setup)").removesuffix(" (call)")
    )
    message = (
        f"{test}: needs {missing} of the full PhysioNet development sets, not in {full_dir()}: "
        f"set {ENV} to them (README.md, 'Data and licences')"
    )
    if IN_CI:
        pytest.fail(f"{message}; mandatory in CI")
    pytest.skip(message)


def record(*parts: str, ext: str | None = "hea") -> Path:
    """A WFDB record (by default one with signals, ``ext="hea"``) of the shipped subset when it
    is there, else of the full sets."""
    path = SUBSET.joinpath(*parts)
    return path if _present(path, ext) else full(*parts, ext=ext)


def subset(*parts: str) -> Path:
    """A path inside the shipped subset (always present in a checkout)."""
    return SUBSET.joinpath(*parts)
