"""Parsed searches, one typed query per resource type (and ``$lastn``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from patient_hub.fhir.patient_params import (
    BirthdateFilter,
    NameFilter,
)
from patient_hub.fhir.search.dates import DateFilter
from patient_hub.fhir.search.ids import ObservationId
from patient_hub.fhir.search.paging import Page, Sort
from patient_hub.fhir.search.selection import Selection, everything
from patient_hub.fhir.search.tokens import Token


@dataclass(frozen=True, slots=True)
class ObservationQuery:
    """A parsed Observation search. ``patients`` None: no patient filter (access still applies);
    ``ids`` None: no ``_id``/``identifier`` filter. ``params``: what was understood, for links."""

    patients: frozenset[str] | None = None
    selection: Selection = field(default_factory=everything)
    ids: frozenset[ObservationId] | None = None
    identifiers: tuple[Token, ...] = ()
    dates: tuple[DateFilter, ...] = ()
    last_updated: tuple[DateFilter, ...] = ()
    page: Page = Page()
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PatientQuery:
    """``identifiers``: per ``identifier`` parameter, (patient ids, birth numbers) either of
    which matches; the parameters are ANDed, as are names, birth dates and genders."""

    ids: frozenset[str] | None = None
    last_updated: tuple[DateFilter, ...] = ()
    identifiers: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    names: tuple[NameFilter, ...] = ()
    birthdates: tuple[BirthdateFilter, ...] = ()
    genders: tuple[frozenset[str], ...] = ()
    page: Page = Page(sort=Sort("_id", False))
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """``ids`` are logical Device ids (``phd-...``, ``phg-...``)."""

    patients: frozenset[str] | None = None
    ids: frozenset[str] | None = None
    page: Page = Page(sort=Sort("_id", False))
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LastnQuery:
    """``$lastn``: the newest ``max_per_series`` Observations of each series (our kind; a BP
    panel; an ECG lead; a finding kind)."""

    patients: frozenset[str] | None = None
    selection: Selection = field(default_factory=everything)
    dates: tuple[DateFilter, ...] = ()
    max_per_series: int = 1
    params: tuple[tuple[str, str], ...] = ()
