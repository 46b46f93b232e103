"""The fast path of a bridge's readings batch: one C decoder per frame, no model per reading.

``telemed_core.protocol.parse_bridge_frame`` builds a pydantic model per reading and ingest then
dumped every model back to JSON dicts for the bus: together the largest part of the hub's CPU per
reading (``bench/bench_ingest.py --profile``). Here msgspec decodes a batch frame of readings
into plain structs in one call, a short loop checks what msgspec cannot (identifiers, kinds and
units, flags, timestamps), and the same loop produces what ingest needs: the wire dicts the bus
carries and the values of the SQLite rows.

**Exactly the protocol's behaviour.** The fast path accepts a strict subset of what
``parse_bridge_frame`` accepts, and for that subset produces exactly its values: anything else
(a hello, a heartbeat, chunks, registrations, any doubt about a field, a timestamp not in one
of the two canonical UTC forms, ``Z`` or ``+00:00``) returns None, and the caller parses the
frame with the pydantic models, which accept it or refuse it with their usual message. So
nothing here decides that a frame is bad, and no error message depends on this module
(``tests/patient_hub/ingest/test_wire.py`` checks both on every edge it handles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from telemed_core.kinds import UNITS, WAVEFORM_KINDS
from telemed_core.protocol import MAX_BATCH_ITEMS, PROTOCOL_VERSION
from telemed_core.values import FLAGS

#: Identifier (telemed_core.values): 1-64 characters of ``[A-Za-z0-9._:-]``; fullmatch, so a
#: trailing newline is refused as pydantic's regex (end of text only) refuses it.
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Reading kinds with their one unit (waveform kinds travel as chunks).
_READING_UNITS: dict[str, str] = {str(k): u for k, u in UNITS.items() if k not in WAVEFORM_KINDS}
_FLAGS = frozenset(FLAGS)


class _Reading(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    patient_id: str
    device_id: str
    kind: str
    value: float | None
    unit: str
    measured_at: str
    device_time: str | None = None
    received_at: str | None = None
    flags: list[str] = []


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    batch_id: int
    v: int = PROTOCOL_VERSION
    readings: list[_Reading] = []
    chunks: list[Any] = []
    patients: list[Any] = []
    consults: list[Any] = []


_decoder = msgspec.json.Decoder(_Batch)


class _NotFast(Exception):
    """The frame is not for the fast path: the pydantic models decide."""


#: Column values of one reading row without the bridge and the storage time:
#: (seq, patient_id, device_id, kind, value, unit, measured_at, device_time, received_at, flags)
#: with times as ``UtcDateTime`` stores them on SQLite.
SqlValues = tuple[Any, ...]


@dataclass
class ReadingsBatch:
    """A validated batch of readings only, in the forms ingest uses.

    ``items`` are the wire dicts, equal to ``TypeAdapter(list[Reading]).dump_python(readings,
    mode="json")`` of the parsed batch (what the bus carries); ``sql`` the values of their rows.
    """

    batch_id: int
    items: list[dict[str, Any]]
    sql: list[SqlValues]
    patient_ids: set[str]
    max_seq: int
    flags: list[list[str]] = field(repr=False, default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def with_patients(self, mapping: dict[str, str]) -> ReadingsBatch:
        """The batch with patient ids replaced by ``mapping`` (a kiosk's own ids → the hub's)."""
        if self.patient_ids.isdisjoint(mapping):
            return self
        items = [
            {**i, "patient_id": mapping.get(i["patient_id"], i["patient_id"])} for i in self.items
        ]
        sql = [(s[0], mapping.get(s[1], s[1]), *s[2:]) for s in self.sql]
        patients = {mapping.get(p, p) for p in self.patient_ids}
        return ReadingsBatch(self.batch_id, items, sql, patients, self.max_seq, self.flags)

    def sqlite_rows(self, bridge_id: str, stored_at: str, test: set[str]) -> list[tuple[Any, ...]]:
        """Rows of the ``readings`` table (``sqlite_store._READING_COLUMNS``); readings of test
        patients get the ``simulated`` flag, as ``sqlite_store.reading_rows`` marks them."""
        if not test:
            return [(bridge_id, *s[:9], stored_at, s[9]) for s in self.sql]
        rows = []
        for s, flags in zip(self.sql, self.flags, strict=True):
            marked = s[9]
            if s[1] in test and "simulated" not in flags:
                marked = ",".join([*flags, "simulated"])
            rows.append((bridge_id, *s[:9], stored_at, marked))
        return rows


def decode_readings_batch(text: str | bytes) -> ReadingsBatch | None:
    """The batch of readings ``text`` carries, validated; None when the frame is anything else
    or anything in it needs the protocol's models to judge (see the module's docstring)."""
    try:
        frame = _decoder.decode(text)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if (
        frame.type != "batch"
        or frame.v != PROTOCOL_VERSION
        or frame.batch_id < 0
        or frame.chunks
        or frame.patients
        or frame.consults
        or not 1 <= len(frame.readings) <= MAX_BATCH_ITEMS
    ):
        return None
    try:
        return _readings(frame)
    except _NotFast:
        return None


def _readings(frame: _Batch) -> ReadingsBatch:
    items: list[dict[str, Any]] = []
    sql: list[SqlValues] = []
    all_flags: list[list[str]] = []
    ids: set[str] = set()
    seqs: set[int] = set()
    patients: set[str] = set()
    flag_sets: dict[tuple[str, ...], str] = {}
    times: dict[str, tuple[str, str]] = {}
    units = _READING_UNITS
    for r in frame.readings:
        seq, value, flags, kind = r.seq, r.value, r.flags, r.kind
        # (A value is finite: msgspec refuses NaN and numbers beyond a float's range.)
        if seq < 1 or units.get(kind) != r.unit:
            raise _NotFast
        key = tuple(flags)
        joined = flag_sets.get(key)
        if joined is None:
            if not _FLAGS.issuperset(key):
                raise _NotFast
            joined = flag_sets[key] = ",".join(key)
        if value is None and "invalid" not in key:
            raise _NotFast
        pid, did = r.patient_id, r.device_id
        if pid not in ids:
            _identifier(pid, ids)
        if did not in ids:
            _identifier(did, ids)
        # Times repeat within a batch (a reading's measured_at is often its received_at).
        measured, measured_sql = times.get(r.measured_at) or _utc(r.measured_at, times)
        device, device_sql = _optional_utc(r.device_time, times)
        received, received_sql = _optional_utc(r.received_at, times)
        seqs.add(seq)
        patients.add(pid)
        all_flags.append(flags)
        items.append(
            {
                "seq": seq, "patient_id": pid, "device_id": did, "kind": kind, "value": value,
                "unit": r.unit, "measured_at": measured, "device_time": device,
                "received_at": received, "flags": flags,
            }
        )  # fmt: skip
        sql.append(
            (seq, pid, did, kind, value, r.unit, measured_sql, device_sql, received_sql, joined)
        )
    if len(seqs) != len(items):
        raise _NotFast  # duplicate numbers: the models say so
    return ReadingsBatch(frame.batch_id, items, sql, patients, max(seqs), all_flags)


def _identifier(value: str, known: set[str]) -> None:
    if _IDENTIFIER.fullmatch(value) is None:
        raise _NotFast
    known.add(value)


def _utc(text: str, times: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(the wire form, the SQLite form) of a canonical UTC timestamp, as the models give them.

    Canonical: ``YYYY-MM-DDTHH:MM:SS`` with no fraction or six digits of one, then ``Z`` (what
    pydantic writes, so what this project's bridges send) or ``+00:00`` (what Python's
    ``isoformat`` writes). Anything else (another offset, other fractions, a space) is left to
    the models: their parser's corner cases (rounding of a 7th digit, a comma) are theirs.
    """
    utc = text[:-6] + "Z" if text.endswith("+00:00") else text
    n = len(utc)
    # The separators at 4, 7, 10, 13, 16 and the end (or the fraction's dot at 19).
    if not ((n == 20 or n == 27) and utc[4:20:3] == _SEPARATORS[n] and utc.isascii()):
        raise _NotFast
    if n == 27 and utc[-1] != "Z":
        raise _NotFast
    try:
        datetime.fromisoformat(utc)  # a real date and time (no 30 February, no hour 24)
    except ValueError:
        raise _NotFast from None
    date_time = utc[:10] + " " + utc[11:19]
    if n == 20:
        at = utc, date_time + ".000000"
    else:
        fraction = utc[19:26]
        if not fraction[1:].isdigit():
            raise _NotFast
        # pydantic writes a whole second without its fraction
        at = (utc[:19] + "Z" if fraction == ".000000" else utc), date_time + fraction
    times[text] = at
    return at


def _optional_utc(
    text: str | None, times: dict[str, tuple[str, str]]
) -> tuple[str, str] | tuple[None, None]:
    if text is None:
        return None, None
    return times.get(text) or _utc(text, times)


_SEPARATORS = {20: "--T::Z", 27: "--T::."}
