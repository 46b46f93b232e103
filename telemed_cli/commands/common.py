"""What the command modules share: the consoles, the database URL option, server settings,
scenario names and failing with one line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from device_bridge.simulator import SCENARIOS, scenario_name

console = Console()
errors = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="sqlite:///path or postgresql://...",
        envvar="TELEMED_DATABASE_URL",
        show_default="sqlite:///var/telemed.db",
    ),
]


def _settings(**overrides: Any) -> Any:
    from clinician_api.settings import ServerSettings

    return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})


def _cluster_engines(
    database_url: str | None, redis_url: str | None, what: str
) -> tuple[Any, str, str]:
    """The settings, PostgreSQL URL and Redis URL a cluster shares; a usage error naming
    ``what`` (the command) when either is missing."""
    settings = _settings(database_url=database_url, redis_url=redis_url)
    if not settings.database_url.startswith(("postgresql://", "postgres://")):
        _fail(f"{what} shares one PostgreSQL database: set --database-url postgresql://... "
              "(or TELEMED_DATABASE_URL)")  # fmt: skip
    if not settings.redis_url:
        _fail(f"{what} shares one Redis bus: set --redis-url redis://... (or TELEMED_REDIS_URL)")
    return settings, settings.database_url, settings.redis_url


def _scenario(name: str | None) -> str | None:
    """The scenario's canonical name; an unknown one is a usage error."""
    if name is None:
        return None
    canonical = scenario_name(name)
    if canonical not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    return canonical


def _fail(message: str) -> None:
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)
