"""``telemed device``: the device registry (assign a device to a patient, retire it, list)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from telemed_cli.care_team import DbOption, _run

device_app = typer.Typer(
    help="Device registry: which patient's device is which.", no_args_is_help=True
)
console = Console()


async def _audit(session: Any, action: str, row: Any) -> None:
    from patient_hub.audit import service as audit

    await audit.record(
        session, actor=audit.Actor("cli"), action=action, entity_type="Device",  # type: ignore[arg-type]
        entity_id=row.device_id, patient_id=row.patient_id,
        detail={"kind": row.kind, "model": row.model, "ble_address": row.ble_address},
    )  # fmt: skip


@device_app.command("add")
def device_add(
    patient_id: str,
    device_id: str,
    kind: Annotated[
        str,
        typer.Option(
            help="bp_monitor, scale, pulse_oximeter, thermometer, "
            "glucose_meter, ecg_strap, hr_strap"
        ),
    ],  # fmt: skip
    model: Annotated[str, typer.Option()],
    serial: Annotated[str | None, typer.Option()] = None,
    ble_address: Annotated[str | None, typer.Option(help="AA:BB:CC:DD:EE:FF")] = None,
    gateway_id: Annotated[
        str | None, typer.Option(help="the gateway or kiosk it pairs with")
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Assign a device to a patient (refused, with nothing written, when it is assigned)."""
    from patient_hub.devices.service import enrol_device
    from telemed_core.values import utc_now

    async def work(session: Any) -> None:
        row = await enrol_device(
            session, patient_id=patient_id, device_id=device_id, kind=kind, model=model,
            serial=serial, ble_address=ble_address, gateway_id=gateway_id, by="cli", now=utc_now(),
        )  # fmt: skip
        await _audit(session, "create", row)

    _run(database_url, work)
    console.print(f"{device_id} ({kind} {model}) assigned to {patient_id}", highlight=False)


@device_app.command("retire")
def device_retire(device_id: str, database_url: DbOption = None) -> None:
    """End a device's assignment (it may then go to another patient)."""
    from patient_hub.devices.service import retire_device
    from telemed_core.values import utc_now

    async def work(session: Any) -> None:
        await _audit(
            session, "update", await retire_device(session, device_id, by="cli", now=utc_now())
        )

    _run(database_url, work)
    console.print(f"{device_id} retired", highlight=False)


@device_app.command("list")
def device_list(patient_id: str, database_url: DbOption = None) -> None:
    """A patient's active devices (tab-separated: id, kind, model, serial, BLE, gateway)."""
    from patient_hub.devices.service import of_patient

    async def work(session: Any) -> list[tuple[str, ...]]:
        return [
            (
                d.device_id,
                d.kind,
                d.model,
                d.serial or "-",
                d.ble_address or "-",
                d.gateway_id or "-",
            )
            for d in await of_patient(session, patient_id)
        ]

    for row in _run(database_url, work):
        print("\t".join(row))  # plain, for scripts
