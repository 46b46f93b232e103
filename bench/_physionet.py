"""Where the benchmarks find the full PhysioNet development sets.

One setting, shared with the tests (``tests/physionet.py``): the environment variable
``TELEMED_PHYSIONET_DIR``, by default ``../shared/data/physionet`` beside the repository. The
benchmarks score the full sets, never the small subset the project carries for its tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "TELEMED_PHYSIONET_DIR"
REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "physionet"


def physionet_dir() -> Path:
    """The folder of the full sets (``mitdb/``, ``challenge2015/`` ...); exits with one line
    saying how to provide it when it is not there."""
    path = Path(os.environ.get(ENV) or DEFAULT).expanduser()
    if not path.is_dir():
        sys.exit(
            f"full PhysioNet development sets not found at {path}: set {ENV} to a folder "
            "holding them (see README.md, 'Data and licences')"
        )
    return path
