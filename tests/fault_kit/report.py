"""The fault report: one JSON line per fault test, summed up at the end of the session."""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

REPORT_ENV = "TELEMED_FAULT_REPORT"


def rounds() -> int:
    """How many times each fault test injects its fault (CI: 1)."""
    return max(1, int(os.environ.get("TELEMED_FAULT_ROUNDS", "1")))


def record(test: str, faults: dict[str, int], **figures: Any) -> None:
    """One line of the fault report (JSON lines in ``$TELEMED_FAULT_REPORT``)."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    line = {"test": test, "faults": faults, **figures}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def summary(path: str) -> list[str]:
    """The report's lines, one per test, and a total per fault kind."""
    with contextlib.suppress(OSError):
        lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
        if not lines:
            return []
        out = []
        total: Counter[str] = Counter()
        for x in lines:
            total.update(x["faults"])
            figures = ", ".join(f"{k} {v}" for k, v in x.items() if k not in ("test", "faults"))
            kinds = ", ".join(f"{k} x{n}" for k, n in x["faults"].items())
            out.append(f"{x['test']}: faults {kinds}; {figures}")
        out.append("faults injected: " + ", ".join(f"{k} x{n}" for k, n in sorted(total.items())))
        return out
    return []
