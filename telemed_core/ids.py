"""Identifiers: short, URL-safe, sortable-enough strings."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """A new random id such as ``pat_3fj9s0ab2kq1``; ``prefix`` names the entity."""
    return f"{prefix}_{secrets.token_hex(6)}"


def new_token() -> str:
    """A high-entropy secret for a bridge credential (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)
