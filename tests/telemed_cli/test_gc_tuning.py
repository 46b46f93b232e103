"""``telemed serve`` tunes the garbage collector once it has started (telemed_cli/gc_tuning.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from telemed_cli import gc_tuning

# Runs the serve command's coroutine in a process of its own (the collector's settings are the
# process's), reports the collector's state when the server says it is ready, and exits.
PROBE = """
import asyncio, gc, json, os, sys
from telemed_cli.commands.common import _settings
from telemed_cli.commands.serve import _serve

async def ready(url):
    print(json.dumps({"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
    sys.stdout.flush()
    os._exit(0)

asyncio.run(_serve(_settings(database_url=sys.argv[1], port=0)))
""".replace(
    "_serve(_settings(database_url=sys.argv[1], port=0))",
    "_serve(_settings(database_url=sys.argv[1], port=0), ready)",
)


def test_a_started_server_freezes_its_start_up_heap_and_collects_young_objects_rarely(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMED_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'hub.db'}"],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )  # fmt: skip
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert tuple(state["thresholds"]) == gc_tuning.THRESHOLDS != (700, 10, 10)
    assert state["frozen"] > 10_000  # the imported code and the app, at least
