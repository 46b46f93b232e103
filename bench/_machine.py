"""Machine facts shared by the benchmarks: CPU model, memory, per-process and machine CPU time,
and how to start the ``telemed`` command. Linux /proc only; anything unreadable gives "?"/None.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
from pathlib import Path


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _mem_total() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "?"


def _proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    try:
        parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    total = sum(parts[:8])  # guest time is already counted in user
    return total - idle, total


async def _busy_pct(seconds: float) -> float:
    """How busy the whole machine is (all cores) over the next ``seconds``."""
    a = _machine_ticks()
    await asyncio.sleep(seconds)
    b = _machine_ticks()
    if not a or not b or b[1] <= a[1]:
        return float("nan")
    return 100 * (b[0] - a[0]) / (b[1] - a[1])


def _telemed_command() -> list[str]:
    script = Path(sys.executable).parent / "telemed"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "telemed_cli.main"]
