"""Wire protocol v1 between a device bridge and the hub (JSON text frames over a websocket).

Conversation (see docs/protocol.md for the full description)::

    bridge                                   hub
      hello {bridge_id, token, new_outbox}  ─▶
                                    ◀─  welcome {last_seq, seq_base}  (or error + close)
      batch {batch_id, readings, chunks} ─▶
                                    ◀─  ack {batch_id, up_to_seq, stored, duplicates}
      heartbeat {sent_at}           ─▶
                                    ◀─  heartbeat {sent_at}
                                    ◀─  error {code, message, batch_id?}

Every reading and sample chunk carries a per-bridge, strictly increasing ``seq``. An outbox that
has never been numbered asks for a block of its own (``new_outbox``): its items are numbered
``seq_base + 1, seq_base + 2, ...``, so a replaced outbox can never reuse a stored number. The
hub stores idempotently by (bridge_id, seq), refuses a different item under a stored number, and sends ``ack`` only after the batch is committed; the bridge
deletes a batch from its outbox only when its ack arrives. An invalid frame gets an ``error``
frame and changes nothing; the connection stays open.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from telemed_core.errors import InvalidInput
from telemed_core.kiosk_items import ConsultRequest, PatientRegistration
from telemed_core.values import Identifier, Reading, SampleChunk, UtcDatetime

PROTOCOL_VERSION: Literal[1] = 1
#: Sequence numbers of one outbox's life: the hub reserves block ``k`` as ``seq_base = k * 2**40``
#: and the outbox numbers its items ``seq_base + 1 ...`` (2**40 items: 35 years at 1,000/s).
SEQ_BLOCK = 2**40
#: Largest batch a hub accepts (readings + chunks); bridges split larger uploads.
MAX_BATCH_ITEMS = 5_000


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    v: Literal[1] = PROTOCOL_VERSION


class Hello(_Frame):
    """First frame of a bridge: who it is and its credential."""

    type: Literal["hello"] = "hello"
    bridge_id: Identifier
    token: str = Field(min_length=16, max_length=256)
    software: str = Field(default="", max_length=100)
    #: The outbox has no ``seq_base`` yet (a new or replaced outbox): reserve one.
    new_outbox: bool = False


class Welcome(_Frame):
    """The hub accepted the bridge; ``last_seq`` is the highest sequence number it has stored,
    ``seq_base`` the block reserved for a ``new_outbox`` (None when none was asked for)."""

    type: Literal["welcome"] = "welcome"
    bridge_id: str
    last_seq: int = 0
    seq_base: int | None = Field(default=None, ge=0)
    #: The patients this bridge may send for (its patient, or its telemedpoint's): ``bridge
    #: pair`` checks a new binding against it. Optional: older hubs leave it out.
    patients: list[str] = Field(default_factory=list)


class Batch(_Frame):
    """Items to store; ``batch_id`` is the bridge's own label for the ack.

    A kiosk also sends ``patients`` (registrations made at the kiosk, possibly offline) and
    ``consults`` (teleconsultation requests); the hub handles them before the readings of the
    same batch, so a reading of a patient registered offline never arrives before its patient.
    """

    type: Literal["batch"] = "batch"
    batch_id: int = Field(ge=0)
    readings: list[Reading] = Field(default_factory=list)
    chunks: list[SampleChunk] = Field(default_factory=list)
    patients: list[PatientRegistration] = Field(default_factory=list)
    consults: list[ConsultRequest] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bounded_and_unique(self) -> Batch:
        seqs = self._seqs()
        if not seqs:
            raise ValueError("a batch must carry at least one item")
        if len(seqs) > MAX_BATCH_ITEMS:
            raise ValueError(f"a batch carries at most {MAX_BATCH_ITEMS} items, got {len(seqs)}")
        if len(set(seqs)) != len(seqs):
            raise ValueError("sequence numbers within a batch must be unique")
        return self

    def _seqs(self) -> list[int]:
        items: list[Reading | SampleChunk | PatientRegistration | ConsultRequest]
        items = [*self.readings, *self.chunks, *self.patients, *self.consults]
        return [i.seq for i in items]

    @property
    def max_seq(self) -> int:
        return max(self._seqs())


class Ack(_Frame):
    """Everything in batch ``batch_id`` (sequence numbers up to ``up_to_seq``) is durable."""

    type: Literal["ack"] = "ack"
    batch_id: int
    up_to_seq: int
    stored: int = Field(ge=0, description="items newly stored")
    duplicates: int = Field(ge=0, description="items already stored before (replays)")


class Heartbeat(_Frame):
    """Keep-alive in either direction; the hub echoes it."""

    type: Literal["heartbeat"] = "heartbeat"
    sent_at: UtcDatetime


class Error(_Frame):
    """Something was wrong with a frame; ``batch_id`` names the batch when there was one."""

    type: Literal["error"] = "error"
    code: str
    message: str
    batch_id: int | None = None


BridgeFrame = Annotated[Hello | Batch | Heartbeat, Field(discriminator="type")]
HubFrame = Annotated[Welcome | Ack | Heartbeat | Error, Field(discriminator="type")]

_bridge_frames: TypeAdapter[Hello | Batch | Heartbeat] = TypeAdapter(BridgeFrame)
_hub_frames: TypeAdapter[Welcome | Ack | Heartbeat | Error] = TypeAdapter(HubFrame)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_bridge_frame(text: str | bytes) -> Hello | Batch | Heartbeat:
    """Parse a frame sent by a bridge; raise InvalidInput naming what is wrong."""
    try:
        return _bridge_frames.validate_json(text)
    except ValidationError as exc:
        raise InvalidInput(f"invalid frame: {_describe(exc)}") from exc


def parse_hub_frame(text: str | bytes) -> Welcome | Ack | Heartbeat | Error:
    """Parse a frame sent by the hub; raise InvalidInput naming what is wrong."""
    try:
        return _hub_frames.validate_json(text)
    except ValidationError as exc:
        raise InvalidInput(f"invalid frame: {_describe(exc)}") from exc


def dump(frame: _Frame) -> str:
    """Serialize a frame to its JSON text."""
    return frame.model_dump_json(exclude_none=False)
