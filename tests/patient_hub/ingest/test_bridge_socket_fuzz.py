"""Mutation fuzzing of the bridge connection handler over a real socket.

Every mutated frame gets exactly one answer (an ``error`` or an ``ack``), the connection stays
open through all of them, and nothing but what was acked is stored. Deterministic (seeded), so a
failure replays.
"""

from __future__ import annotations

import json
import random
from typing import Any

import websockets
from sqlalchemy import func, select

from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow
from tests.conftest import RunningHub

CASES = 300
GOOD = {
    "type": "batch",
    "v": 1,
    "batch_id": 1,
    "readings": [
        {
            "seq": 1,
            "patient_id": "p1",
            "device_id": "strap-1",
            "kind": "heart_rate",
            "value": 70.0,
            "unit": "/min",
            "measured_at": "2026-11-27T10:00:00Z",
        }
    ],
}
ODD_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    2**63,
    -(2**80),
    1e308,
    "",
    "x" * 300,
    "\u0000\ud7ff",
    [],
    {},
    [[[]]],
    {"a": {"b": {}}},
    "2026-13-45T99:00:00Z",
    "nan",
    "Infinity",
]


def _mutate(rng: random.Random, seq: int) -> str | bytes:
    frame = json.loads(json.dumps(GOOD))
    reading = frame["readings"][0]
    reading["seq"] = seq
    frame["batch_id"] = seq
    choice = rng.randrange(7)
    if choice == 0:
        return rng.randbytes(rng.randrange(1, 64))
    text = json.dumps(frame)
    if choice == 1:
        return text[: rng.randrange(len(text))]
    if choice == 2:
        reading[rng.choice(sorted(reading))] = rng.choice(ODD_VALUES)
    elif choice == 3:
        frame[rng.choice(sorted(frame))] = rng.choice(ODD_VALUES)
    elif choice == 4:
        del reading[rng.choice(sorted(reading))]
    elif choice == 5:
        frame["readings"] = [reading] * rng.randrange(2, 5)  # duplicate seqs in one batch
    else:
        reading["value"] = rng.uniform(-1e6, 1e6)  # valid: stored and acked
    return json.dumps(frame)


async def _count(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return int((await s.execute(select(func.count()).select_from(ReadingRow))).scalar_one())
    finally:
        await engine.dispose()


async def test_mutated_frames_each_get_one_answer_and_never_drop_the_connection(
    hub: RunningHub, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    rng = random.Random(18)
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        await ws.send(json.dumps(hello))
        assert json.loads(await ws.recv())["type"] == "welcome"
        answers: dict[str, int] = {"ack": 0, "error": 0}
        stored = 0
        for seq in range(1, CASES + 1):
            await ws.send(_mutate(rng, seq))
            answer = json.loads(await ws.recv())
            answers[answer["type"]] += 1
            stored += answer.get("stored", 0)
        await ws.send(json.dumps({"type": "heartbeat", "v": 1, "sent_at": "2026-12-07T10:00:00Z"}))
        assert json.loads(await ws.recv())["type"] == "heartbeat"
    assert sum(answers.values()) == CASES
    assert answers["ack"] > 0 and answers["error"] > 0
    assert await _count(hub.settings.database_url) == stored
