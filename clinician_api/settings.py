"""Settings of the server deployable, from TELEMED_* environment variables; built once."""

from __future__ import annotations

import os
from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_IDLE_TIMEOUT_S = 30 * 60


class ServerSettings(BaseSettings):
    """Everything the hub and API need; passed to create_app(settings)."""

    model_config = SettingsConfigDict(env_prefix="TELEMED_", extra="ignore")

    #: production (the default) or demo (``telemed demo``: cookies without Secure, open /docs;
    #: says so on start). There is no other "development" mode.
    environment: Literal["demo", "production"] = "production"
    database_url: str = "sqlite:///var/telemed.db"
    redis_url: str | None = None
    #: Token signing key. Empty (the default): the first process generates a random key and
    #: stores it in the database, where every process of the cluster reads it.
    secret_key: str = ""
    access_token_ttl_s: int = Field(default=8 * 3600, ge=60, le=7 * 86400)
    #: A session with no request for this long ends (sign in again).
    idle_timeout_s: int = Field(default=DEFAULT_IDLE_TIMEOUT_S, ge=60, le=7 * 86400)
    #: Only the loopback interface unless told otherwise; put a TLS proxy in front.
    host: str = "127.0.0.1"
    #: Proxies whose X-Forwarded-Proto/For are trusted (comma-separated IPs, or "*").
    forwarded_allow_ips: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: all: everything in one process; ingest: the bridge websocket; api: REST, FHIR, screens
    #: and their live sockets; worker: the signal worker. Every role answers /healthz and
    #: /readyz. Split roles need Redis (docs/operations.md, "Scaling out").
    role: Literal["all", "ingest", "api", "worker"] = "all"
    bus_prefix: str = "telemed:"
    #: ``telemed serve`` writes JSON log lines at this level and above (patient_hub/logs.py).
    #: WARNING by default: refusals, lost links and errors. INFO adds a line per request and per
    #: bridge connection (set it where something reads the logs as fast as they come: a
    #: supervisor piping stderr into a pipe nobody drains would block the server).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    #: The region's time zone: day boundaries of daily rules (weight, adherence) use it.
    timezone: str = "UTC"
    worker_name: str = Field(default_factory=lambda: f"worker-{os.getpid()}")
    #: A signal worker's partition leases expire this long after its last renewal: a dead
    #: worker's patients move to the others within about this time.
    worker_lease_s: float = Field(default=10.0, ge=1.0, le=300.0)
    #: How often each process looks for due alert timers (escalations, pause expiries).
    alert_timer_poll_s: float = Field(default=1.0, gt=0, le=60)
    #: E-mail reminders go through this SMTP server; without a host, e-mail is not configured
    #: and each e-mail notification is recorded as failed with that reason.
    #: Technical alarms: a streaming device silent this long is offline; the silence check runs
    #: this often (reference/clinical-workflow.md §5.6 proposes these; operators tune them).
    alert_device_offline_s: float = Field(default=600.0, gt=0)
    alert_sweep_s: float = Field(default=60.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "telemed@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # Limits (clinician_api/limits.py; docs/operations.md "Limits"). Frames above 16 MiB are
    # refused by uvicorn itself (close 1009), so the frame limit stays below that.
    max_body_bytes: int = Field(default=10 * 2**20, ge=1024)
    max_ws_frame_bytes: int = Field(default=8 * 2**20, ge=1024, le=2**24)
    max_connections_per_bridge: int = Field(default=2, ge=1)
    max_connections_per_user: int = Field(default=20, ge=1)
    rate_limit_user_per_min: int = Field(default=1200, ge=1)
    rate_limit_ip_per_min: int = Field(default=300, ge=1)
    #: First-responder dispatch (alerts/dispatch/policy.py): phase 1 offers the nearest
    #: ``dispatch_first_n`` within ``dispatch_radius_m``; each later phase offers more, farther.
    dispatch_first_n: int = Field(default=3, ge=1, le=100)
    dispatch_radius_m: float = Field(default=800.0, gt=0, le=50_000)
    dispatch_max_radius_m: float = Field(default=3000.0, gt=0, le=100_000)
    dispatch_max_phases: int = Field(default=4, ge=1, le=20)
    dispatch_phase_s: float = Field(default=60.0, gt=0, le=3600)
    dispatch_max_accept: int = Field(default=2, ge=1, le=30)
    dispatch_position_max_age_s: float = Field(default=600.0, gt=0)
    dispatch_tick_s: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def _split_roles_need_redis(self) -> ServerSettings:
        if self.role != "all" and not self.redis_url:
            raise ValueError(
                f"role {self.role!r} shares work with other processes: set TELEMED_REDIS_URL"
            )
        return self

    @model_validator(mode="after")
    def _known_timezone(self) -> ServerSettings:
        if self.timezone != "UTC" and self.timezone not in available_timezones():
            raise ValueError(f"TELEMED_TIMEZONE {self.timezone!r} is not an IANA time zone")
        return self

    @model_validator(mode="after")
    def _secret_key_long_enough(self) -> ServerSettings:
        if self.secret_key and len(self.secret_key) < 32:
            raise ValueError(
                "TELEMED_SECRET_KEY must be a random value of at least 32 characters "
                "(or unset: the server then generates one and keeps it in the database)"
            )
        return self
