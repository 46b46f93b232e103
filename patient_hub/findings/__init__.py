"""Findings of the signal library, stored and published."""
