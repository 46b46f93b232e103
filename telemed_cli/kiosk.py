"""``telemed kiosk``: set up a telemedpoint kiosk once, then run its local web app (edge only:
no server imports)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

kiosk_app = typer.Typer(help="Telemedpoint kiosk: the nurse's local web app.", no_args_is_help=True)
console = Console()


def _settings(**overrides: Any) -> Any:
    from telemedpoint_kiosk.settings import KioskSettings

    return KioskSettings(**{k: v for k, v in overrides.items() if v is not None})


@kiosk_app.command("setup")
def setup(
    hub: Annotated[str, typer.Option(help="hub URL, e.g. https://hub.example")],
    token: Annotated[
        str,
        typer.Option(
            help="enrolment token from the hub's admin", envvar="TELEMED_KIOSK_ENROLMENT_TOKEN"
        ),
    ],
    name: Annotated[str, typer.Option(help="this kiosk's name within its telemedpoint")] = "1",
    state_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Enrol this PC as a kiosk of the telemedpoint the token names (once)."""
    from telemed_core.errors import TelemedError
    from telemedpoint_kiosk.hub_client import enrol
    from telemedpoint_kiosk.setup import save_identity

    settings = _settings(state_dir=state_dir)
    try:
        enrolment = asyncio.run(enrol(hub, token, name))
    except TelemedError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    save_identity(settings, hub, enrolment)
    console.print(
        f"kiosk {enrolment.bridge_id} of {enrolment.telemedpoint_name} is set up in {settings.state_dir}"
    )


@kiosk_app.command("run")
def run(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option(help="port (0 picks a free one)")] = None,
    state_dir: Annotated[Path | None, typer.Option()] = None,
    simulate: Annotated[
        bool | None, typer.Option(help="simulated devices instead of Bluetooth")
    ] = None,
    adapter: Annotated[str | None, typer.Option(help="Bluetooth adapter, e.g. hci0")] = None,
) -> None:
    """Run the kiosk's web app with its devices and uplink."""
    from telemedpoint_kiosk.serve import serve_kiosk

    settings = _settings(host=host, port=port, state_dir=state_dir, simulate=simulate)

    async def ready(url: str) -> None:
        console.print(f"telemedpoint kiosk on [bold]{url}[/bold]", highlight=False)
        console.print(f"TELEMED_KIOSK_READY {url}", highlight=False, soft_wrap=True)

    try:
        asyncio.run(serve_kiosk(settings, ready, adapter=adapter))
    except KeyboardInterrupt:
        pass
