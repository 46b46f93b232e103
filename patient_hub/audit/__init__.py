"""Append-only, hash-chained audit log of every read and change of patient data."""
