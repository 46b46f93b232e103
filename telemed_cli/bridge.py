"""``telemed bridge``: scan, pair and run a device bridge (edge only: no server imports)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

bridge_app = typer.Typer(help="Device bridge: home gateway or kiosk PC.", no_args_is_help=True)
console = Console()


def _settings(**overrides: Any) -> Any:
    from device_bridge.settings import BridgeSettings

    return BridgeSettings(**{k: v for k, v in overrides.items() if v is not None})


def _status_table(status: Any) -> Table:
    table = Table(title=f"bridge · link {status.link_state} · radio {status.radio} · outbox {status.outbox_depth}"
                  f"{' (NEAR FULL)' if status.outbox_near_full else ''} · acked {status.acked_items}"
                  f" · quarantined {status.quarantined}")  # fmt: skip
    for column in ("device", "patient", "profile", "last reading"):
        table.add_column(column)
    for d in status.devices:
        last = d.last_reading_at.strftime("%H:%M:%S") if d.last_reading_at else "never"
        table.add_row(d.address, d.patient_id, d.profile, last)
    if status.last_error:
        table.caption = f"last error: {status.last_error}"
    return table


@bridge_app.command("scan")
def scan(
    seconds: Annotated[float, typer.Option(help="how long to listen")] = 10.0,
    adapter: Annotated[str | None, typer.Option(help="Bluetooth adapter, e.g. hci0")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="not only health devices")] = False,
) -> None:
    """List nearby health devices (by advertised service or a known name prefix)."""
    from device_bridge.link.bleak_link import BleakLink
    from device_bridge.link.port import LinkError, ScanFilter
    from device_bridge.link.profiles import PROFILES

    if all_devices:
        wanted = ScanFilter()
    else:
        services = frozenset(u for p in PROFILES.values() for u in p.scan_filter.service_uuids)
        names = tuple(n for p in PROFILES.values() for n in p.scan_filter.name_prefixes)
        wanted = ScanFilter(service_uuids=services, name_prefixes=names)
    try:
        found = asyncio.run(BleakLink(adapter=adapter).scan(wanted, seconds))
    except LinkError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    except OSError as exc:  # no system D-Bus / BlueZ on this machine
        console.print(
            f"[red]error:[/red] cannot reach Bluetooth ({exc}); is bluetoothd running and is "
            "this machine's D-Bus system bus available?"
        )
        raise typer.Exit(1) from exc
    table = Table(title=f"{len(found)} device(s)")
    for column in ("address", "name", "RSSI", "services"):
        table.add_column(column)
    for adv in sorted(found, key=lambda a: -(a.rssi_dbm or -999)):
        shown = ", ".join(u[4:8] if u.endswith("0805f9b34fb") else u for u in adv.service_uuids)
        table.add_row(adv.address, adv.name or "", str(adv.rssi_dbm or ""), shown)
    console.print(table)


@bridge_app.command("pair")
def pair(
    address: str,
    patient: Annotated[str, typer.Option(help="patient id this device belongs to")],
    profile: Annotated[
        str, typer.Option(help="device kind, e.g. bp_cuff, glucose_meter")
    ] = "heart_rate_strap",
    device_id: Annotated[
        str | None, typer.Option(help="stable name (default: from address)")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option()] = None,
    hub: Annotated[
        str | None, typer.Option(help="hub URL", envvar="TELEMED_BRIDGE_HUB_URL")
    ] = None,
    bridge_id: Annotated[str | None, typer.Option(envvar="TELEMED_BRIDGE_BRIDGE_ID")] = None,
    token: Annotated[str | None, typer.Option(envvar="TELEMED_BRIDGE_TOKEN")] = None,
    check_hub: Annotated[
        bool, typer.Option(help="ask the hub that this bridge may send for the patient")
    ] = True,
) -> None:
    """Bind a device to a patient; bonding happens on first connect when the device needs it.
    The address must be a Bluetooth address, and the hub must know the patient as one this
    bridge serves (--no-check-hub to pair while the hub is out of reach)."""
    from device_bridge import bindings
    from device_bridge.hub_check import check_address
    from device_bridge.pipeline import DeviceBinding

    settings = _settings(state_dir=state_dir, hub_url=hub, bridge_id=bridge_id, token=token)
    try:
        address = check_address(address)
        if check_hub:
            _check_patient_on_hub(settings, patient)
    except (ValueError, PermissionError, LookupError) as exc:
        _fail(str(exc))
    name = device_id or address.replace(":", "").replace("-", "").lower()
    try:
        bindings.bind(settings.bindings_path, DeviceBinding(address, patient, name, profile))
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"paired {address} → patient {patient} ({profile})")


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(2)


def _check_patient_on_hub(settings: Any, patient: str) -> None:
    from device_bridge.hub_check import patients_of_bridge
    from device_bridge.runner import ws_url

    if not settings.bridge_id or not settings.token:
        raise LookupError(
            "to check the patient on the hub give --bridge-id and --token (or "
            "TELEMED_BRIDGE_*), or pass --no-check-hub"
        )
    try:
        allowed = asyncio.run(
            patients_of_bridge(ws_url(settings.hub_url), settings.bridge_id, settings.token)
        )
    except (OSError, TimeoutError) as exc:
        raise LookupError(
            f"cannot reach the hub at {settings.hub_url} ({exc}); pair with --no-check-hub "
            "and check later"
        ) from exc
    if patient not in allowed:
        raise LookupError(
            f"the hub knows no patient {patient!r} for bridge {settings.bridge_id} "
            f"(it serves {', '.join(allowed) or 'no patient yet'})"
        )


@bridge_app.command("run")
def run(
    hub: Annotated[str | None, typer.Option(help="hub URL")] = None,
    bridge_id: Annotated[str | None, typer.Option()] = None,
    token: Annotated[str | None, typer.Option(envvar="TELEMED_BRIDGE_TOKEN")] = None,
    state_dir: Annotated[Path | None, typer.Option()] = None,
    simulate: Annotated[list[str] | None, typer.Option(help="simulate devices of PATIENT")] = None,
    speed: Annotated[float, typer.Option(help="simulated seconds per second")] = 1.0,
    drain: Annotated[bool, typer.Option(help="send what is stored, then exit")] = False,
    status: Annotated[bool, typer.Option(help="live status view")] = True,
    adapter: Annotated[str | None, typer.Option(help="Bluetooth adapter, e.g. hci0")] = None,
) -> None:
    """Run the bridge: devices → outbox → hub, with a live status view."""
    from device_bridge.runner import (
        BridgeRunner,
        RadioStatus,
        ble_source,
        pair_simulated,
        simulated_source,
    )

    settings = _settings(hub_url=hub, bridge_id=bridge_id, token=token, state_dir=state_dir)
    if not settings.bridge_id or not settings.token:
        console.print(
            "[red]error:[/red] --bridge-id and --token (or TELEMED_BRIDGE_*) are required"
        )
        raise typer.Exit(2)
    if simulate:
        pair_simulated(settings, simulate)
    radio = RadioStatus()
    sources = (
        [simulated_source(simulate, speed=speed)] if simulate else [ble_source(adapter, radio)]
    )
    runner = BridgeRunner(settings, sources, radio)
    if not (status and console.is_terminal):  # a service: structured logs instead of a view
        from device_bridge import service_log

        service_log.configure()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(runner.run(stop, drain_only=drain))
        if status and console.is_terminal:
            with Live(
                _status_table(runner.status()), console=console, refresh_per_second=2
            ) as live:
                while not task.done():
                    live.update(_status_table(runner.status()))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            await asyncio.shield(task)
        await task

    try:
        asyncio.run(main())
    except Exception as exc:  # the operator gets the reason, not a traceback
        console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    final = runner.final_status or runner.status()
    console.print(f"stopped: outbox {final.outbox_depth}, acked {final.acked_items}, "
                  f"quarantined {final.quarantined}")  # fmt: skip
