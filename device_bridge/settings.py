"""Settings of a bridge (home gateway or kiosk PC), from TELEMED_BRIDGE_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BridgeSettings(BaseSettings):
    """Where the hub is, who this bridge is, where it keeps its state."""

    model_config = SettingsConfigDict(env_prefix="TELEMED_BRIDGE_", extra="ignore")

    hub_url: str = "http://127.0.0.1:8000"
    bridge_id: str = ""
    token: str = ""
    state_dir: Path = Path("var/bridge")
    batch_size: int = Field(default=500, ge=1, le=5000)
    newest_first: bool = False
    max_outbox_items: int = Field(default=5_000_000, ge=100)

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.db"

    @property
    def bindings_path(self) -> Path:
        return self.state_dir / "bindings.json"
