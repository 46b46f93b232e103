"""Shared kernel: measurement kinds and units, ids, value types, wire protocol v1, domain errors.

No I/O lives here; edge and server meet only in these types.
"""
