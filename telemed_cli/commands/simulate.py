"""``telemed simulate``: simulated bridges and patients (the work: ``telemed_cli.simulate``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from device_bridge.simulator import SCENARIOS
from telemed_cli.commands.common import _fail, _scenario, console
from telemed_cli.errors import explain


def simulate(
    hub: Annotated[str, typer.Option(help="hub URL, e.g. http://127.0.0.1:8000")],
    patients: Annotated[int, typer.Option(min=1, max=10_000)] = 3,
    seconds: Annotated[
        float | None, typer.Option(help="stop after S s (default: run forever)")
    ] = None,
    admin_user: Annotated[str, typer.Option(envvar="TELEMED_ADMIN_USER")] = "admin",
    admin_password: Annotated[str, typer.Option(envvar="TELEMED_ADMIN_PASSWORD")] = "demo",
    ecg: Annotated[bool, typer.Option(help="stream simulated ECG chunks")] = True,
    outbox_dir: Annotated[
        Path | None, typer.Option(help="folder for the bridges' outboxes")
    ] = None,
    api: Annotated[
        str | None, typer.Option(help="API node for enrolment, when not the --hub node")
    ] = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="delete the simulated patients (sim-*) and their data")
    ] = False,
    scenario: Annotated[
        str | None, typer.Option(help=f"every simulated patient plays it: {', '.join(SCENARIOS)}")
    ] = None,
    scenario_start: Annotated[int, typer.Option(min=0, help="seconds before it starts")] = 30,
) -> None:
    """Simulated bridges with simulated devices, over the real wire protocol and websockets.
    Simulated patients are test data (HTEST); --remove deletes them from the hub."""
    from telemed_cli.simulate import enrol, prepare_scenario, run_bridges, scenario_programme

    name = _scenario(scenario)

    if remove:
        _remove_simulated(hub, admin_user, admin_password)
        return

    async def main() -> dict[str, int]:
        api_url = api or hub
        bridges = await enrol(
            api_url, admin_user, admin_password, patients, scenario_programme(name)
        )
        console.print(f"enrolled {len(bridges)} simulated bridges on {hub}")
        ids = [b.patient_id for b in bridges]
        await prepare_scenario(api_url, admin_user, admin_password, ids, name, scenario_start)
        plays = {pid: name for pid in ids} if name else None
        return await run_bridges(
            hub, bridges, seconds=seconds, outbox_dir=outbox_dir, ecg=ecg,
            scenarios=plays, scenario_start_s=scenario_start,
        )  # fmt: skip

    try:
        produced = asyncio.run(main())
    except KeyboardInterrupt:
        return
    except Exception as exc:  # show the reason, not a traceback, to the operator
        _fail(explain(exc))
    console.print(f"produced {sum(produced.values())} items from {len(produced)} bridges")


def _remove_simulated(hub: str, admin_user: str, admin_password: str) -> None:
    from telemed_cli.simulate import remove

    try:
        result = asyncio.run(remove(hub, admin_user, admin_password))
    except Exception as exc:  # show the reason, not a traceback, to the operator
        _fail(explain(exc))
    rows = sum(result["rows"].values())
    console.print(
        f"removed {result['patients']} simulated patients and {rows} rows from {hub}",
        highlight=False,
    )
