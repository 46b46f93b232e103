"""Ask the hub, with the bridge's own credential, which patients this bridge may send for
(the ``welcome`` of protocol v1): ``bridge pair`` checks a new binding against it."""

from __future__ import annotations

import asyncio
import re

import websockets

from telemed_core.protocol import Error, Hello, Welcome, dump, parse_hub_frame

#: A Bluetooth device address as BlueZ shows it (``00:1C:05:FF:E8:74``), or the UUID that
#: CoreBluetooth uses instead on macOS.
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_UUID = re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")


def check_address(address: str) -> str:
    """The address, upper-cased; ValueError saying the expected form otherwise."""
    if _MAC.match(address):
        return address.upper()
    if _UUID.match(address):
        return address.upper()
    raise ValueError(
        f"{address!r} is not a Bluetooth address: expected six hex pairs such as "
        "00:1C:05:FF:E8:74 (or a CoreBluetooth UUID on macOS); `telemed bridge scan` lists them"
    )


async def patients_of_bridge(
    ws_url: str, bridge_id: str, token: str, timeout_s: float = 10
) -> list[str]:
    """The patients the hub lets this bridge send for; PermissionError if it refuses the
    credential, OSError/TimeoutError if it cannot be reached."""
    async with asyncio.timeout(timeout_s), websockets.connect(ws_url) as ws:
        await ws.send(dump(Hello(bridge_id=bridge_id, token=token, software="telemed-pair")))
        frame = parse_hub_frame(await ws.recv())
    if isinstance(frame, Error):
        raise PermissionError(f"the hub refused bridge {bridge_id}: {frame.message}")
    if not isinstance(frame, Welcome):
        raise ConnectionError(f"the hub answered {frame.type}, not welcome")
    return frame.patients
