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
