"""One-time kiosk set-up: store the credentials the hub gave for this kiosk."""

from __future__ import annotations

from telemedpoint_kiosk.hub_client import Enrolment
from telemedpoint_kiosk.settings import KioskSettings
from telemedpoint_kiosk.store import KioskStore


def save_identity(settings: KioskSettings, hub_url: str, enrolment: Enrolment) -> None:
    """Write the kiosk's identity (bridge id, token, telemedpoint) into its local store."""
    store = KioskStore(settings.store_path)
    try:
        store.set_identity({
            "hub_url": hub_url, "bridge_id": enrolment.bridge_id, "token": enrolment.token,
            "telemedpoint_id": enrolment.telemedpoint_id,
            "telemedpoint_name": enrolment.telemedpoint_name,
        })  # fmt: skip
    finally:
        store.close()
