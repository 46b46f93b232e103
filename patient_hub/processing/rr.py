"""Atrial fibrillation from a chest strap's RR intervals (BLE Heart Rate Measurement readings
of kind ``rr_interval``), for straps and patches that send beat-to-beat intervals but no ECG.

A stream is one (patient, device). Beat times are rebuilt by adding up the intervals from an
anchor: the first notification's time minus its intervals. Each notification says when its
last beat was (about its ``measured_at``); when the sum of intervals drifts more than
``MAX_DRIFT_S`` from that (intervals lost in a dropout, a strap restarted), the stream starts
again from the new notification, so that a hole never shows up as one long irregular interval.
Readings arrive at least once: each stream remembers the newest sequence number it took.

A device that also streams its ECG (a Polar H10 does both) is left to the ECG analysis
(:mod:`patient_hub.processing.ecg`), which finds its AF from the R peaks: the RR readings of a
device with a live ECG stream are not analysed twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from telemed_signal.af import AfDetector
from telemed_signal.findings import Finding

#: Largest gap between the summed intervals and the notification clock before a restart.
MAX_DRIFT_S = 3.0
#: RR intervals outside this range (ms) are not beats (a strap's glitch); they are skipped.
RR_RANGE_MS = (200.0, 3000.0)


@dataclass
class RrStream:
    """Beat clock and AF detector of one device; times are seconds since ``t0``."""

    t0: datetime
    af: AfDetector
    beat_s: float = 0.0  # the last beat
    last_seq: int = 0
    last_at: datetime | None = None
    #: Beat times queued for the detector: a batch's notifications go in with one call (the
    #: detector's cost is mostly per call; its labels do not depend on chunking).
    pending: list[float] = field(default_factory=list)

    @classmethod
    def start(cls, patient_id: str, at: datetime, rr_s: list[float]) -> RrStream:
        t0 = at - timedelta(seconds=sum(rr_s))
        return cls(t0=t0, af=AfDetector(patient_id, t0))

    def queue(self, rr_s: list[float]) -> None:
        """Add a notification's intervals to the beat clock; ``drain`` analyses them."""
        if self.last_at is None and not self.pending:  # the beat the first interval starts from
            self.pending.append(0.0)
        for rr in rr_s:
            self.beat_s += rr
            self.pending.append(self.beat_s)

    def drain(self) -> list[Finding]:
        """Run the AF detector over the queued beats."""
        if not self.pending:
            return []
        times, self.pending = np.asarray(self.pending), []
        return self.af.process(times)

    def drift_s(self, at: datetime, rr_s: list[float]) -> float:
        """How far this notification's last beat would fall from its time on the clock."""
        return self.beat_s + sum(rr_s) - (at - self.t0).total_seconds()


class RrProcessor:
    """All RR streams of the hub worker."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], RrStream] = {}

    def take(
        self, rows: list[dict[str, Any]], ecg_devices: frozenset[tuple[str, str]] = frozenset()
    ) -> list[Finding]:
        """AF findings of a batch's ``rr_interval`` readings (wire dicts, any patients);
        ``ecg_devices`` are the (patient, device) pairs whose ECG is analysed instead."""
        # One notification: the readings of one device and measured_at, in seq order.
        notes: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
        for r in rows:
            if r.get("kind") != "rr_interval" or r.get("value") is None:
                continue
            if "invalid" in r.get("flags", []):
                continue
            if not RR_RANGE_MS[0] <= float(r["value"]) <= RR_RANGE_MS[1]:
                continue
            key = (r["patient_id"], r["device_id"])
            if key in ecg_devices:
                continue
            notes[(*key, r["measured_at"])].append((int(r.get("seq", 0)), float(r["value"]) / 1e3))
        findings: list[Finding] = []
        touched: set[tuple[str, str]] = set()
        for (patient, device, at_iso), parts in sorted(notes.items(), key=lambda kv: kv[0][2]):
            parts.sort(key=lambda part: part[0])  # stable: arrival order without seqs
            rr = [rr_s for _, rr_s in parts]
            findings += self._note(
                patient, device, datetime.fromisoformat(at_iso), parts[-1][0], rr
            )
            touched.add((patient, device))
        for key in sorted(touched):
            findings += self.streams[key].drain()
        return findings

    def _note(
        self, patient: str, device: str, at: datetime, seq: int, rr: list[float]
    ) -> list[Finding]:
        stream = self.streams.get((patient, device))
        if stream is not None and (
            (seq and seq <= stream.last_seq) or (stream.last_at is not None and at < stream.last_at)
        ):
            return []  # a replay, or older than what was taken
        found: list[Finding] = []
        if stream is None or abs(stream.drift_s(at, rr)) > MAX_DRIFT_S:
            if stream is not None:
                found += stream.drain()
                found += stream.af.flush()  # the episode in progress ends at the hole
            stream = self.streams[(patient, device)] = RrStream.start(patient, at, rr)
        stream.queue(rr)
        stream.last_seq, stream.last_at = max(stream.last_seq, seq), at
        return found
