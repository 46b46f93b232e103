"""The ``telemed`` command: the composition root. Imports are lazy inside each command so that
an edge install (bridge, kiosk) needs no server packages.

The commands live in ``telemed_cli/commands/`` (serve, cluster, simulate, loadtest, demo, db,
aed) and beside it (user, bridge, alerts, audit, care-team, kiosk); this module registers them in
the order ``telemed --help`` lists them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from telemed_cli.alerts import alerts_app
from telemed_cli.audit import audit_app
from telemed_cli.bridge import bridge_app
from telemed_cli.care_team import care_team_app
from telemed_cli.commands.aed import aed_app
from telemed_cli.commands.cluster import cluster
from telemed_cli.commands.common import console, errors
from telemed_cli.commands.db import db_app
from telemed_cli.commands.demo import demo
from telemed_cli.commands.loadtest import loadtest
from telemed_cli.commands.serve import serve
from telemed_cli.commands.simulate import simulate
from telemed_cli.devices import device_app
from telemed_cli.errors import explain
from telemed_cli.kiosk import kiosk_app
from telemed_cli.users import user_app

app = typer.Typer(
    help="Telemed remote-monitoring platform. Settings come from options or TELEMED_* "
    "environment variables (shown with each option).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a local may hold a password or a hash
)
app.add_typer(user_app, name="user")
app.add_typer(device_app, name="device")
app.add_typer(db_app, name="db")
app.add_typer(aed_app, name="aed")
app.add_typer(bridge_app, name="bridge")
app.add_typer(alerts_app, name="alerts")
app.add_typer(audit_app, name="audit")
app.add_typer(care_team_app, name="care-team")
app.add_typer(kiosk_app, name="kiosk")
app.command()(serve)
app.command()(cluster)
app.command()(simulate)
app.command()(loadtest)
app.command()(demo)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"telemed {version('telemed')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    """Telemed remote-monitoring platform."""


def main() -> None:
    """Console entry point: expected failures become one line on stderr and exit status 1."""
    try:
        app()
    except Exception as exc:
        errors.print(f"error: {explain(exc)}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
