"""Which paired device belongs to which patient: a small JSON file, replaced atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

from device_bridge.link.profiles import DeviceKind
from device_bridge.pipeline import DeviceBinding

#: A binding's profile is a link DeviceKind (what to subscribe to, what to sync on connect).
PROFILES = tuple(k.value for k in DeviceKind)


def load(path: Path) -> dict[str, DeviceBinding]:
    """Bindings by device address; an absent file means none."""
    if not path.exists():
        return {}
    try:
        rows = json.loads(path.read_text())
        return {r["address"]: DeviceBinding(**r) for r in rows}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid bindings file: {exc}") from exc


def save(path: Path, bindings: dict[str, DeviceBinding]) -> None:
    """Write all bindings; a crash leaves either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"address": b.address, "patient_id": b.patient_id, "device_id": b.device_id,
         "profile": b.profile}
        for b in sorted(bindings.values(), key=lambda b: b.address)
    ]  # fmt: skip
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(rows, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def bind(path: Path, binding: DeviceBinding) -> None:
    """Add or replace one device's binding."""
    if binding.profile not in PROFILES:
        raise ValueError(f"unknown profile {binding.profile!r}; one of {list(PROFILES)}")
    bindings = load(path)
    bindings[binding.address] = binding
    save(path, bindings)
