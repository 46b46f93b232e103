"""The kiosk's own local store (SQLite, WAL): identity, cached sign-ins, sessions, patients,
visits, measurements, local alerts and consult requests. Everything a nurse entered is written
here before anything else happens, so a restart mid-visit resumes where it stopped."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identity (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nurses (
    username TEXT PRIMARY KEY, salt BLOB NOT NULL, pw_hash BLOB NOT NULL, verified_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS patients (
    id TEXT PRIMARY KEY, family_name TEXT NOT NULL, given_name TEXT NOT NULL,
    birth_date TEXT, national_id TEXT, sex TEXT, insurer TEXT, phone TEXT,
    treating_doctor TEXT, source TEXT NOT NULL, registered_at TEXT
);
CREATE TABLE IF NOT EXISTS visits (
    id TEXT PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES patients(id),
    protocol TEXT NOT NULL, nurse TEXT NOT NULL, symptoms TEXT NOT NULL,
    started_at TEXT NOT NULL, ended_at TEXT, skipped TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT, visit_id TEXT NOT NULL REFERENCES visits(id),
    step TEXT NOT NULL, vals TEXT NOT NULL, source TEXT NOT NULL, device_id TEXT,
    measured_at TEXT NOT NULL, abnormal INTEGER NOT NULL, usable INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS alerts (
    visit_id TEXT NOT NULL REFERENCES visits(id), rule TEXT NOT NULL, level TEXT NOT NULL,
    message TEXT NOT NULL, raised_at TEXT NOT NULL, acknowledged_at TEXT, action TEXT,
    PRIMARY KEY (visit_id, rule)
);
CREATE TABLE IF NOT EXISTS consults (
    id TEXT PRIMARY KEY, visit_id TEXT NOT NULL REFERENCES visits(id), addressee TEXT NOT NULL,
    reason TEXT NOT NULL, video_url TEXT, requested_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class PatientRecord:
    id: str
    family_name: str
    given_name: str
    birth_date: str | None
    national_id: str | None
    sex: str | None
    insurer: str | None
    phone: str | None
    treating_doctor: str | None
    source: str  # hub (known to the hub) | kiosk (registered here)
    registered_at: str | None

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class Visit:
    id: str
    patient_id: str
    protocol: str
    nurse: str
    symptoms: list[str]
    started_at: datetime
    ended_at: datetime | None
    skipped: dict[str, str]


@dataclass(frozen=True)
class Measurement:
    id: int
    visit_id: str
    step: str
    values: dict[str, float]
    source: str  # device | manual
    device_id: str | None
    measured_at: datetime
    abnormal: bool
    usable: bool  # False: impossible device value, noisy strip or interrupted recording
    note: str


@dataclass(frozen=True)
class Alert:
    visit_id: str
    rule: str
    level: str  # critical | warning
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None
    action: str | None


@dataclass(frozen=True)
class Consult:
    id: str
    visit_id: str
    addressee: str
    reason: str
    video_url: str | None
    requested_at: datetime


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class KioskStore:
    """All SQL of the kiosk; one connection, used from one event loop."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
        return row

    # -- identity and sign-in ----------------------------------------------------------------

    def identity(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM identity").fetchall())

    def set_identity(self, values: dict[str, str]) -> None:
        with self.transaction():
            for key, value in values.items():
                self._db.execute(
                    "INSERT INTO identity VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                    "SET value = excluded.value",
                    (key, value),
                )

    def nurse_secret(self, username: str) -> tuple[bytes, bytes] | None:
        row = self._one("SELECT salt, pw_hash FROM nurses WHERE username = ?", username)
        return (bytes(row[0]), bytes(row[1])) if row else None

    def save_nurse(self, username: str, salt: bytes, pw_hash: bytes, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO nurses VALUES (?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
            "salt = excluded.salt, pw_hash = excluded.pw_hash, verified_at = excluded.verified_at",
            (username, salt, pw_hash, at.isoformat()),
        )

    def add_session(self, session_id: str, username: str, expires_at: datetime) -> None:
        self._db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?)", (session_id, username, expires_at.isoformat())
        )

    def session_user(self, session_id: str, now: datetime) -> str | None:
        row = self._one("SELECT username, expires_at FROM sessions WHERE id = ?", session_id)
        if row is None or datetime.fromisoformat(row[1]) < now:
            return None
        return str(row[0])

    def end_session(self, session_id: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    # -- patients --------------------------------------------------------------------------

    def save_patient(self, p: PatientRecord) -> None:
        self._db.execute(
            "INSERT INTO patients VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
            "family_name = excluded.family_name, given_name = excluded.given_name, "
            "birth_date = coalesce(excluded.birth_date, birth_date), "
            "national_id = coalesce(excluded.national_id, national_id)",
            (p.id, p.family_name, p.given_name, p.birth_date, p.national_id, p.sex, p.insurer,
             p.phone, p.treating_doctor, p.source, p.registered_at),
        )  # fmt: skip

    def patient(self, patient_id: str) -> PatientRecord | None:
        row = self._one("SELECT * FROM patients WHERE id = ?", patient_id)
        return PatientRecord(*row) if row else None

    def patient_by_national_id(self, national_id: str) -> PatientRecord | None:
        row = self._one("SELECT * FROM patients WHERE national_id = ?", national_id)
        return PatientRecord(*row) if row else None

    def find_patients(self, query: str, limit: int = 20) -> list[PatientRecord]:
        """By a part of the name, the birth number (digits) or the birth date (YYYY-MM-DD)."""
        like = f"%{query.strip().lower()}%"
        digits = "".join(ch for ch in query if ch.isdigit())
        rows = self._db.execute(
            "SELECT * FROM patients WHERE lower(given_name || ' ' || family_name) LIKE ? "
            "OR lower(family_name || ' ' || given_name) LIKE ? OR birth_date = ? "
            "OR (? != '' AND national_id LIKE ?) ORDER BY family_name, given_name LIMIT ?",
            (like, like, query.strip(), digits, f"{digits}%", limit),
        ).fetchall()
        return [PatientRecord(*r) for r in rows]

    # -- visits ----------------------------------------------------------------------------

    def add_visit(self, v: Visit) -> None:
        self._db.execute(
            "INSERT INTO visits VALUES (?,?,?,?,?,?,?,?)",
            (v.id, v.patient_id, v.protocol, v.nurse, json.dumps(v.symptoms),
             v.started_at.isoformat(), None, json.dumps(v.skipped)),
        )  # fmt: skip

    def visit(self, visit_id: str) -> Visit | None:
        row = self._one("SELECT * FROM visits WHERE id = ?", visit_id)
        if row is None:
            return None
        vid, pid, protocol, nurse, symptoms, started, ended, skipped = row
        return Visit(vid, pid, protocol, nurse, json.loads(symptoms),
                     datetime.fromisoformat(started), _dt(ended), json.loads(skipped))  # fmt: skip

    def open_visits(self) -> list[Visit]:
        ids = self._db.execute(
            "SELECT id FROM visits WHERE ended_at IS NULL ORDER BY started_at DESC"
        ).fetchall()
        return [v for (i,) in ids if (v := self.visit(i)) is not None]

    def skip_step(self, visit_id: str, step: str, reason: str) -> None:
        visit = self.visit(visit_id)
        assert visit is not None
        skipped = {**visit.skipped, step: reason}
        self._db.execute(
            "UPDATE visits SET skipped = ? WHERE id = ?", (json.dumps(skipped), visit_id)
        )

    def end_visit(self, visit_id: str, at: datetime) -> None:
        self._db.execute(
            "UPDATE visits SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
            (at.isoformat(), visit_id),
        )

    def add_measurement(self, m: Measurement) -> None:
        self._db.execute(
            "INSERT INTO measurements (visit_id, step, vals, source, device_id, measured_at, "
            "abnormal, usable, note) VALUES (?,?,?,?,?,?,?,?,?)",
            (m.visit_id, m.step, json.dumps(m.values), m.source, m.device_id,
             m.measured_at.isoformat(), int(m.abnormal), int(m.usable), m.note),
        )  # fmt: skip

    def measurements(self, visit_id: str) -> list[Measurement]:
        rows = self._db.execute(
            "SELECT * FROM measurements WHERE visit_id = ? ORDER BY id", (visit_id,)
        ).fetchall()
        return [
            Measurement(i, v, s, json.loads(vals), src, dev, datetime.fromisoformat(at),
                        bool(ab), bool(us), note)
            for i, v, s, vals, src, dev, at, ab, us, note in rows
        ]  # fmt: skip

    # -- local alerts and consults ---------------------------------------------------------

    def raise_alert(self, a: Alert) -> bool:
        """Record an alert once per (visit, rule); return True when it is new."""
        cur = self._db.execute(
            "INSERT INTO alerts VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (a.visit_id, a.rule, a.level, a.message, a.raised_at.isoformat(), None, None),
        )
        return cur.rowcount == 1

    def acknowledge_alert(self, visit_id: str, rule: str, action: str, at: datetime) -> None:
        self._db.execute(
            "UPDATE alerts SET acknowledged_at = ?, action = ? WHERE visit_id = ? AND rule = ?",
            (at.isoformat(), action, visit_id, rule),
        )

    def alerts(self, visit_id: str) -> list[Alert]:
        rows = self._db.execute(
            "SELECT * FROM alerts WHERE visit_id = ? ORDER BY raised_at", (visit_id,)
        ).fetchall()
        return [
            Alert(v, r, lv, msg, datetime.fromisoformat(at), _dt(ack), act)
            for v, r, lv, msg, at, ack, act in rows
        ]

    def add_consult(self, c: Consult) -> None:
        self._db.execute(
            "INSERT INTO consults VALUES (?,?,?,?,?,?)",
            (c.id, c.visit_id, c.addressee, c.reason, c.video_url, c.requested_at.isoformat()),
        )

    def consults(self, visit_id: str) -> list[Consult]:
        rows = self._db.execute(
            "SELECT * FROM consults WHERE visit_id = ? ORDER BY requested_at", (visit_id,)
        ).fetchall()
        return [Consult(i, v, a, r, u, datetime.fromisoformat(t)) for i, v, a, r, u, t in rows]
