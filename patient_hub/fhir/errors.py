"""The one error of the FHIR mapping."""

from __future__ import annotations


class FhirMappingError(ValueError):
    """A resource or a row cannot be mapped: the message names the element and what is wrong.

    It is a ValueError so callers that treat bad input generically keep working; the REST layer
    renders it as an OperationOutcome with HTTP 422 (``status_code``).
    """

    status_code = 422
