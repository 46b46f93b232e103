"""Settings of a kiosk PC, from TELEMED_KIOSK_* variables (built once, passed down)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KioskSettings(BaseSettings):
    """Where the kiosk keeps its state, where it listens, how its simulated devices behave."""

    model_config = SettingsConfigDict(env_prefix="TELEMED_KIOSK_", extra="ignore")

    state_dir: Path = Path("var/kiosk")
    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=0, le=65535)
    language: Literal["cs", "en"] = "cs"
    simulate: bool = False
    #: Length of the recorded ECG strip (s) and how long the simulated strap takes to send it.
    strip_s: float = Field(default=30.0, ge=9.0, le=120.0)
    sim_strip_wall_s: float = Field(default=30.0, ge=0.0)
    #: How long a simulated cuff/oximeter/scale takes to deliver a measurement (s).
    sim_measure_wall_s: float = Field(default=1.5, ge=0.0)
    #: How long a device measurement may take before the kiosk says the device failed (s).
    measure_timeout_s: float = Field(default=90.0, gt=0)
    hub_timeout_s: float = Field(default=4.0, gt=0)
    #: An idle uplink sends a heartbeat this often: it notices a dead link (and the status bar
    #: says offline) within about this time, and the hub sees the kiosk alive.
    heartbeat_s: float = Field(default=5.0, gt=0)
    session_hours: float = Field(default=12.0, gt=0)

    @property
    def store_path(self) -> Path:
        return self.state_dir / "kiosk.db"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.db"
