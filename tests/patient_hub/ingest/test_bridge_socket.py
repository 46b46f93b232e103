"""The bridge websocket over a real socket: auth, validation, idempotent storage, ack after commit."""

from __future__ import annotations

import json
from typing import Any

import websockets
from sqlalchemy import func, select

from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow, SampleChunkRow


def reading(
    seq: int, patient: str = "p1", kind: str = "heart_rate", value: float = 70.0
) -> dict[str, Any]:
    units = {"heart_rate": "/min", "spo2": "%"}
    return {
        "seq": seq,
        "patient_id": patient,
        "device_id": "strap-1",
        "kind": kind,
        "value": value,
        "unit": units[kind],
        "measured_at": f"2026-11-27T10:00:{seq % 60:02d}Z",
    }


def batch(
    batch_id: int, readings: list[dict[str, Any]], chunks: list[dict[str, Any]] | None = None
) -> str:
    return json.dumps(
        {
            "type": "batch",
            "v": 1,
            "batch_id": batch_id,
            "readings": readings,
            "chunks": chunks or [],
        }
    )


async def connect(hub: Any, bridge: str, token: str) -> Any:
    ws, _ = await hello(hub, bridge, token)
    return ws


async def hello(hub: Any, bridge: str, token: str, **fields: Any) -> tuple[Any, dict[str, Any]]:
    ws = await websockets.connect(hub.ws_url + "/ws/bridge")
    frame = {"type": "hello", "v": 1, "bridge_id": bridge, "token": token, **fields}
    await ws.send(json.dumps(frame))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def stored(database_url: str) -> list[tuple[str, int]]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            rows = await s.execute(
                select(ReadingRow.bridge_id, ReadingRow.seq).order_by(ReadingRow.seq)
            )
            return [(b, q) for b, q in rows]
    finally:
        await engine.dispose()


async def test_batch_is_stored_and_acked(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    await ws.send(batch(7, [reading(1), reading(2), reading(3, kind="spo2", value=96)]))
    ack = json.loads(await ws.recv())
    await ws.close()
    assert ack == {
        "type": "ack",
        "v": 1,
        "batch_id": 7,
        "up_to_seq": 3,
        "stored": 3,
        "duplicates": 0,
    }
    assert await stored(hub.settings.database_url) == [
        ("bridge-p1", 1),
        ("bridge-p1", 2),
        ("bridge-p1", 3),
    ]


async def test_wrong_token_is_refused_and_the_socket_closed(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    ws = await websockets.connect(hub.ws_url + "/ws/bridge")
    await ws.send(
        json.dumps({"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": "x" * 40})
    )
    error = json.loads(await ws.recv())
    assert error["type"] == "error" and error["code"] == "unauthenticated"
    await ws.wait_closed()
    assert ws.close_code == 1008


async def test_first_frame_must_be_hello(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    ws = await websockets.connect(hub.ws_url + "/ws/bridge")
    await ws.send(batch(1, [reading(1)]))
    error = json.loads(await ws.recv())
    assert error["type"] == "error"
    await ws.wait_closed()
    assert await stored(hub.settings.database_url) == []


async def test_replaying_an_acked_batch_stores_nothing_twice(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    frame = batch(1, [reading(s) for s in range(1, 11)])
    await ws.send(frame)
    first = json.loads(await ws.recv())
    await ws.send(frame)
    second = json.loads(await ws.recv())
    await ws.close()
    assert (first["stored"], first["duplicates"]) == (10, 0)
    assert (second["stored"], second["duplicates"]) == (0, 10)
    assert len(await stored(hub.settings.database_url)) == 10


async def test_batch_cut_off_before_its_ack_is_stored_once_after_reconnect(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    frame = batch(1, [reading(s) for s in range(1, 501)])
    await ws.send(frame)
    ws.transport.abort()  # the bridge dies mid-batch: TCP reset, no ack read, no close frame
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    await ws.send(frame)
    ack = json.loads(await ws.recv())
    await ws.close()
    assert ack["stored"] + ack["duplicates"] == 500
    rows = await stored(hub.settings.database_url)
    assert rows == [("bridge-p1", s) for s in range(1, 501)]


async def test_welcome_reports_the_highest_stored_seq(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    await ws.send(batch(1, [reading(5), reading(9)]))
    await ws.recv()
    await ws.close()
    ws = await websockets.connect(hub.ws_url + "/ws/bridge")
    await ws.send(
        json.dumps(
            {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        )
    )
    assert json.loads(await ws.recv())["last_seq"] == 9
    await ws.close()


async def test_invalid_frames_get_errors_change_nothing_and_keep_the_connection(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    bad = [
        "not json",
        json.dumps({"type": "nonsense", "v": 1}),
        batch(1, [reading(1), {**reading(2), "unit": "kg"}]),  # wrong unit: whole batch refused
        batch(2, [{**reading(3), "measured_at": "2026-11-27T10:00:00"}]),  # naive time
        batch(3, [reading(4), reading(4)]),  # duplicate seq in one batch
        batch(4, []),
        batch(5, [{**reading(6), "value": None}]),  # no value and not flagged invalid
    ]
    for frame in bad:
        await ws.send(frame)
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and reply["code"] == "invalid", (frame, reply)
        assert reply["message"]
    assert await stored(hub.settings.database_url) == []
    await ws.send(batch(6, [reading(10)]))
    assert json.loads(await ws.recv())["type"] == "ack"
    await ws.close()


async def test_a_home_bridge_may_not_send_for_another_patient(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    await ws.send(batch(1, [reading(1, patient="p1"), reading(2, patient="p2")]))
    reply = json.loads(await ws.recv())
    await ws.close()
    assert reply["type"] == "error" and reply["code"] == "forbidden" and reply["batch_id"] == 1
    assert await stored(hub.settings.database_url) == []


async def test_a_kiosk_sends_for_the_patients_of_its_telemedpoint_only(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "kiosk-a", tokens["kiosk-a"])
    await ws.send(batch(1, [reading(1, patient="p1"), reading(2, patient="p2")]))
    assert json.loads(await ws.recv())["stored"] == 2
    await ws.send(batch(2, [reading(3, patient="p3")]))
    assert json.loads(await ws.recv())["code"] == "forbidden"
    await ws.close()


async def test_sample_chunks_are_stored_with_their_samples(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    chunk = {
        "seq": 1,
        "patient_id": "p1",
        "device_id": "strap-1",
        "fs_hz": 130,
        "start": "2026-11-27T10:00:00Z",
        "samples": [0, -5, 1200, -300, 8388607],
    }
    await ws.send(batch(1, [], [chunk]))
    assert json.loads(await ws.recv())["stored"] == 1
    await ws.close()
    engine = make_engine(hub.settings.database_url)
    async with make_sessionmaker(engine)() as s:
        row = (await s.scalars(select(SampleChunkRow))).one()
        count = await s.scalar(select(func.count(ReadingRow.id)))
    await engine.dispose()
    import numpy as np

    assert np.frombuffer(row.samples, dtype="<i4").tolist() == chunk["samples"]
    assert (row.n_samples, row.fs_hz, count) == (5, 130.0, 0)


async def test_each_new_outbox_gets_its_own_block_above_everything_stored(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    token = tokens["bridge-p1"]
    ws, first = await hello(hub, "bridge-p1", token, new_outbox=True)
    await ws.send(batch(1, [reading(1), reading(2)]))
    assert json.loads(await ws.recv())["stored"] == 2
    await ws.close()
    ws, second = await hello(hub, "bridge-p1", token, new_outbox=True)
    await ws.close()
    ws, third = await hello(hub, "bridge-p1", token, new_outbox=True)  # nothing stored by second
    await ws.close()
    ws, known = await hello(hub, "bridge-p1", token)
    await ws.close()
    assert [first["seq_base"], second["seq_base"], third["seq_base"]] == [0, 2**40, 2 * 2**40]
    assert (known["seq_base"], known["last_seq"]) == (None, 2)


async def test_a_new_outbox_starts_above_numbers_stored_before_blocks_existed(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    await ws.send(batch(1, [reading(2**40 + 5)]))  # e.g. an outbox advanced by the old rule
    await ws.recv()
    await ws.close()
    ws, welcome = await hello(hub, "bridge-p1", tokens["bridge-p1"], new_outbox=True)
    await ws.close()
    assert welcome["seq_base"] == 2 * 2**40


async def test_a_different_reading_under_a_stored_seq_is_refused_and_changes_nothing(
    hub: Any, seed: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    await ws.send(batch(1, [reading(1, value=70.0)]))
    assert json.loads(await ws.recv())["stored"] == 1
    await ws.send(batch(2, [reading(1, value=71.0), reading(2)]))  # seq 1 reused, seq 2 new
    error = json.loads(await ws.recv())
    await ws.send(batch(3, [reading(1, value=70.0)]))  # the true replay is still a duplicate
    replay = json.loads(await ws.recv())
    await ws.close()
    assert (error["type"], error["code"], error["batch_id"]) == ("error", "seq-conflict", 2)
    assert "seq 1 (value)" in error["message"]
    assert (replay["type"], replay["duplicates"]) == ("ack", 1)
    assert await stored(hub.settings.database_url) == [("bridge-p1", 1)]


async def test_a_different_sample_chunk_under_a_stored_seq_is_refused(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    ws = await connect(hub, "bridge-p1", tokens["bridge-p1"])
    chunk = {
        "seq": 1, "patient_id": "p1", "device_id": "strap-1", "fs_hz": 130,
        "start": "2026-11-27T10:00:00Z", "samples": [0, 5, 10],
    }  # fmt: skip
    await ws.send(batch(1, [], [chunk]))
    assert json.loads(await ws.recv())["stored"] == 1
    await ws.send(batch(2, [], [{**chunk, "samples": [0, 5, 11]}]))
    error = json.loads(await ws.recv())
    await ws.close()
    assert (error["code"], error["batch_id"]) == ("seq-conflict", 2)
    assert "seq 1 (samples)" in error["message"]
