"""Named bit fields and enumerations of the SIG services, both directions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def bit_names(bits: int, names: Mapping[int, str]) -> tuple[str, ...]:
    """Names of the set bits that ``names`` knows, lowest bit first; unknown bits are dropped."""
    return tuple(name for bit, name in sorted(names.items()) if bits >> bit & 1)


def bits_from(value: int | Iterable[str], names: Mapping[int, str]) -> int:
    """The inverse of :func:`bit_names`: an int passes through, names are looked up."""
    if isinstance(value, int):
        return value
    by_name = {name: bit for bit, name in names.items()}
    bits = 0
    for name in value:
        if name not in by_name:
            raise ValueError(f"unknown status bit {name!r}; known: {sorted(by_name)}")
        bits |= 1 << by_name[name]
    return bits


def code_of(name: str | int, table: Mapping[int, str], what: str) -> int:
    """The code of an enumeration value given by name (or already as a code)."""
    if isinstance(name, int):
        return name
    by_name = {label: code for code, label in table.items()}
    if name not in by_name:
        raise ValueError(f"unknown {what} {name!r}; known: {sorted(by_name)}")
    return by_name[name]
