"""Errors of FHIR search parsing: malformed or unknown parameters (400), formats (406)."""

from __future__ import annotations

from telemed_core.errors import InvalidInput


class SearchParamError(InvalidInput):
    """A search parameter that is malformed, unknown or not supported (HTTP 400)."""


class UnsupportedFormat(InvalidInput):
    status_code = 406
    code = "not-supported"
