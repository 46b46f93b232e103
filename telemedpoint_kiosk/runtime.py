"""One kiosk, composed once from its settings: local store, the bridge's outbox and uplink, the
devices, the visit service; sign-in online (cached for offline) and the status bar's facts."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from device_bridge import bindings as binding_store
from device_bridge.outbox import Outbox
from device_bridge.runner import ws_url
from device_bridge.uplink import Uplink
from telemed_core.errors import NotAuthenticated
from telemed_core.values import utc_now
from telemedpoint_kiosk import hub_client
from telemedpoint_kiosk.devices import DeviceSource, KioskDevice, KioskDevices
from telemedpoint_kiosk.settings import KioskSettings
from telemedpoint_kiosk.store import KioskStore, PatientRecord
from telemedpoint_kiosk.visits import VisitService


@dataclass(frozen=True)
class KioskStatus:
    link_state: str  # online | connecting | offline | not_set_up
    unsent: int
    last_sync_at: datetime | None
    last_error: str


def installed_devices(settings: KioskSettings) -> list[KioskDevice]:
    """The devices paired on this PC (``telemed bridge pair ... --state-dir STATE_DIR``)."""
    paired = binding_store.load(settings.state_dir / "bindings.json")
    return [KioskDevice(b.address, b.profile, b.device_id) for b in paired.values()]


class Kiosk:
    """The kiosk process's state; the web app (web/app.py) is built over one of these."""

    def __init__(self, settings: KioskSettings, devices: list[KioskDevice]) -> None:
        self.settings = settings
        self.store = KioskStore(settings.store_path)
        self.outbox = Outbox(settings.outbox_path)
        self.devices = KioskDevices(self.outbox, devices)
        self.visits = VisitService(
            self.store, self.outbox, self.devices,
            strip_s=settings.strip_s, measure_timeout_s=settings.measure_timeout_s,
        )  # fmt: skip
        self.uplink: Uplink | None = None
        self.ecg_tasks: dict[str, asyncio.Task[Any]] = {}
        self._stop = asyncio.Event()
        self._link_task: asyncio.Task[None] | None = None
        self._last_sync_at: datetime | None = None

    def attach(self, source: DeviceSource) -> None:
        self.devices.source = source

    @property
    def identity(self) -> dict[str, str]:
        return self.store.identity()

    # -- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover raw device bytes a crash left, then keep the uplink running."""
        self.devices.pipeline.recover()
        ident = self.identity
        if "bridge_id" not in ident:
            return
        self.uplink = Uplink(
            ws_url(ident["hub_url"]),
            ident["bridge_id"],
            ident["token"],
            self.outbox,
            max_backoff_s=5.0,
            heartbeat_s=self.settings.heartbeat_s,
            ack_timeout_s=max(10.0, 2 * self.settings.heartbeat_s),
        )
        self._link_task = asyncio.create_task(self._run_uplink(self.uplink))

    async def _run_uplink(self, uplink: Uplink) -> None:
        try:
            await uplink.run(self._stop)
        except NotAuthenticated as exc:  # shown in the status bar: the hub refused this kiosk
            uplink.status.last_error = exc.message

    async def close(self) -> None:
        self._stop.set()
        for task in [*self.ecg_tasks.values(), *([self._link_task] if self._link_task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.outbox.close()
        self.store.close()

    def status(self) -> KioskStatus:
        if self.uplink is None:
            return KioskStatus("not_set_up", self.outbox.depth(), None, "")
        up = self.uplink.status
        if up.last_ack_at is not None and up.last_ack_at != self._last_sync_at:
            # Kept across restarts: "last sync" must not read "never" after a reboot offline.
            self.store.set_identity({"last_sync_at": up.last_ack_at.isoformat()})
            self._last_sync_at = up.last_ack_at
        if self._last_sync_at is None and (stored := self.identity.get("last_sync_at")):
            self._last_sync_at = datetime.fromisoformat(stored)
        state = "online" if up.state == "online" else "offline"
        if state == "offline" and up.reconnects == 0 and not up.last_error:
            state = "connecting"  # the first attempt since start: not known to be down yet
        return KioskStatus(state, self.outbox.depth(), self._last_sync_at, up.last_error)

    # -- nurses ----------------------------------------------------------------------------

    async def sign_in(self, username: str, password: str) -> str:
        """A session id. Online: the hub checks the password (then cached as a PBKDF2 hash,
        and the patient list refreshed). Offline: the cached hash of a nurse seen before."""
        ident = self.identity
        try:
            token = await hub_client.sign_in(
                ident["hub_url"],
                username,
                password,
                ident["telemedpoint_id"],
                self.settings.hub_timeout_s,
            )
        except hub_client.HubUnreachable:
            cached = self.store.nurse_secret(username)
            if cached is None or not hub_client.check_password(password, *cached):
                raise NotAuthenticated(
                    "offline: only a nurse who signed in here while online can sign in now"
                ) from None
        else:
            salt, digest = hub_client.hash_password(password)
            self.store.save_nurse(username, salt, digest, utc_now())
            await self._refresh_patients(ident["hub_url"], token)
        session_id = secrets.token_urlsafe(24)
        expires = utc_now() + timedelta(hours=self.settings.session_hours)
        self.store.add_session(session_id, username, expires)
        return session_id

    async def _refresh_patients(self, hub_url: str, token: str) -> None:
        with contextlib.suppress(hub_client.HubUnreachable):
            for p in await hub_client.patients(hub_url, token, self.settings.hub_timeout_s):
                record = _record(p)
                same = record.national_id and self.store.patient_by_national_id(record.national_id)
                if same and same.id != record.id:
                    continue  # registered here and merged by the hub: keep the kiosk's id
                self.store.save_patient(record)


def _record(p: dict[str, Any]) -> PatientRecord:
    given, _, family = str(p.get("display_name", p["id"])).partition(" ")
    return PatientRecord(
        p["id"], p.get("family_name") or family or given, p.get("given_name") or given,
        p.get("birth_date"), p.get("national_id"), p.get("sex"), p.get("insurer"), p.get("phone"),
        p.get("treating_doctor"), "hub", None,
    )  # fmt: skip
