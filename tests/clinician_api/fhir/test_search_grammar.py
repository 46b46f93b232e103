"""FHIR search's parameter grammar (``patient_hub.fhir.search``), pure: dates and their
prefixes, tokens and codes, categories, paging parameters, cursors and ``$lastn``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from patient_hub.fhir.search.dates import parse_date_filter, parse_date_range
from patient_hub.fhir.search.errors import SearchParamError
from patient_hub.fhir.search.paging import Cursor
from patient_hub.fhir.search.parse import parse_lastn, parse_observation_search
from patient_hub.fhir.search.selection import Subset, select_category, select_code
from patient_hub.fhir.search.tokens import Token, parse_token, split_escaped
from tests.clinician_api.fhir.search_world import (
    FINDING_CATEGORY,
    HL7_CATEGORY,
    HR_MDC,
    LOINC,
    MDC,
    at,
)

# == the grammar (patient_hub.fhir.search), pure ================================================


@pytest.mark.parametrize(
    ("text", "lo", "hi"),
    [
        ("2026", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2026-11-27", "2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z"),
        ("2026-11-27T10:00Z", "2026-11-27T10:00:00Z", "2026-11-27T10:01:00Z"),
        ("2026-11-27T10:00:05Z", "2026-11-27T10:00:05Z", "2026-11-27T10:00:06Z"),
        ("2026-11-27T10:00:05.5Z", "2026-11-27T10:00:05.5Z", "2026-11-27T10:00:05.6Z"),
        ("2026-11-27T12:00:00+02:00", "2026-11-27T10:00:00Z", "2026-11-27T10:00:01Z"),
    ],
)
def test_a_partial_date_is_the_range_it_covers(text: str, lo: str, hi: str) -> None:
    span = parse_date_range(text)
    assert (span.lo, span.hi) == (at(lo), at(hi))


def test_a_date_without_time_is_a_day_in_the_servers_zone() -> None:
    span = parse_date_range("2026-11-27", ZoneInfo("Africa/Nairobi"))  # UTC+3
    assert (span.lo, span.hi) == (at("2026-11-26T21:00:00Z"), at("2026-11-27T21:00:00Z"))


@pytest.mark.parametrize("text", ["2026-11-27T10:00:00", "27/11/2026", "2026-13", "2026-02-30"])
def test_a_naive_or_malformed_date_is_refused(text: str) -> None:
    with pytest.raises(SearchParamError):
        parse_date_range(text)


@pytest.mark.parametrize(
    ("value", "matching"),
    [
        ("2026-11-27", {"10:00"}),
        ("eq2026-11-27", {"10:00"}),
        ("ne2026-11-27", {"prev", "next"}),
        ("gt2026-11-27T10:00:00Z", {"next"}),
        ("ge2026-11-27T10:00:00Z", {"10:00", "next"}),
        ("lt2026-11-27T10:00:00Z", {"prev"}),
        ("le2026-11-27T10:00:00Z", {"prev", "10:00"}),
        ("sa2026-11-27", {"next"}),
        ("eb2026-11-27", {"prev"}),
        ("lt2026-11-27,gt2026-11-27", {"prev", "next"}),
    ],
)
def test_date_prefixes_on_instants(value: str, matching: set[str]) -> None:
    instants = {
        "prev": at("2026-11-26T23:59:59Z"),
        "10:00": at("2026-11-27T10:00:00Z"),
        "next": at("2026-11-28T00:00:00Z"),
    }
    f = parse_date_filter(value)
    assert {name for name, t in instants.items() if f.matches(t, t)} == matching


@pytest.mark.parametrize(
    ("value", "ongoing", "ended"),
    [
        ("ge2026-12-01", True, False),
        ("gt2026-11-27", True, False),
        ("eq2026-11-27", False, True),
        ("eb2026-11-28", False, True),
        ("le2026-11-27", True, True),
        ("sa2026-11-26", True, True),
    ],
)
def test_date_prefixes_on_periods_treat_an_open_end_as_still_going(
    value: str, ongoing: bool, ended: bool
) -> None:
    f = parse_date_filter(value)
    start = at("2026-11-27T08:00:00Z")
    assert f.matches(start, None) is ongoing
    assert f.matches(start, at("2026-11-27T08:05:00Z")) is ended


def test_ap_prefix_is_refused() -> None:
    with pytest.raises(SearchParamError, match="prefix"):
        parse_date_filter("ap2026-11-27")


def test_loinc_token_selects_every_kind_carrying_it_mdc_only_its_own() -> None:
    assert select_code(Token(LOINC, "8867-4")).kinds == {"heart_rate", "pulse_rate"}
    assert select_code(Token(MDC, "147842")).kinds == {"heart_rate"}
    assert select_code(Token(MDC, "150452")).ecg_leads == Subset(frozenset({"PLETH"}))
    assert select_code(Token(MDC, "150036")).ecg_leads == Subset(frozenset({"ABP"}))
    every_lead = select_code(Token(MDC, "131328")).ecg_leads
    assert every_lead.every and every_lead.excluded == {"PLETH", "ABP"}
    assert not every_lead & Subset(frozenset({"PLETH"}))
    assert every_lead & Subset(frozenset({"II", "ABP"})) == Subset(frozenset({"II"}))
    assert (every_lead | Subset(frozenset({"ABP"}))).excluded == {"PLETH"}
    assert select_code(Token(None, "147842")).kinds == {"heart_rate"}
    assert select_code(Token(LOINC, "59408-5")).kinds == select_code(Token(MDC, "150456")).kinds


def test_empty_system_token_matches_no_coding_of_ours() -> None:
    assert select_code(Token("", "8867-4")).empty


def test_bp_codes_select_panels_and_lone_components() -> None:
    panel = select_code(Token(LOINC, "85354-9"))
    systolic = select_code(Token(LOINC, "8480-6"))
    mean = select_code(Token(MDC, "150023"))
    assert panel.kinds == set() and panel.panel_kinds >= {"bp_systolic"}
    assert systolic.kinds == {"bp_systolic"} and systolic.panel_kinds == {"bp_systolic"}
    assert mean.kinds == {"bp_mean"} and mean.panel_kinds == {"bp_mean"}


def test_categories_select_sources() -> None:
    vital = select_category(Token(HL7_CATEGORY, "vital-signs"))
    lab = select_category(Token(None, "laboratory"))
    findings = select_category(Token(FINDING_CATEGORY, "finding"))
    assert "glucose" not in vital.kinds and "heart_rate" in vital.kinds and vital.panel_kinds
    assert not vital.ecg_leads and not vital.finding_kinds
    assert lab.kinds == {"glucose"}
    assert findings.finding_kinds.every and not findings.kinds


def test_commas_are_or_and_repeated_codes_are_and() -> None:
    either = parse_observation_search([("code", f"{HR_MDC},{LOINC}|2708-6")]).selection
    both = parse_observation_search([("code", HR_MDC), ("code", f"{LOINC}|2708-6")]).selection
    assert either.kinds == {"heart_rate", "spo2"}
    assert both.empty


def test_unknown_parameter_is_refused_unless_lenient() -> None:
    with pytest.raises(SearchParamError, match="'colour'"):
        parse_observation_search([("colour", "red")])
    with pytest.raises(SearchParamError, match="modifier"):
        parse_observation_search([("code:text", "heart")])
    q = parse_observation_search([("colour", "red"), ("code", HR_MDC)], lenient=True)
    assert q.params == (("code", HR_MDC),)


def test_count_defaults_to_50_and_is_capped_at_1000() -> None:
    assert parse_observation_search([]).page.count == 50
    assert parse_observation_search([("_count", "5000")]).page.count == 1000
    with pytest.raises(SearchParamError):
        parse_observation_search([("_count", "-1")])


def test_empty_values_are_ignored() -> None:
    assert parse_observation_search([("code", ""), ("date", "")]).params == ()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("_sort", "value")], "_sort"),
        ([("_summary", "true")], "_summary"),
        ([("_cursor", "bm90LWpzb24")], "_cursor"),
        ([("_cursor", "x"), ("_offset", "3")], "either"),
        ([("_count", "5"), ("_count", "6")], "once"),
    ],
)
def test_malformed_paging_parameters_are_refused(
    params: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(SearchParamError, match=message):
        parse_observation_search(params)


def test_escaped_commas_and_bars_are_not_separators() -> None:
    (token,) = [parse_token(v) for v in split_escaped("a\\|b|c\\,d", ",")]
    assert token == Token("a|b", "c,d")


def test_cursor_round_trips() -> None:
    cursor = Cursor(False, ("2026-11-27T10:00:00+00:00", 1, 42))
    assert Cursor.decode(cursor.encode()) == cursor


def test_lastn_max_defaults_to_one() -> None:
    assert parse_lastn([("patient", "p1")]).max_per_series == 1
    assert parse_lastn([("patient", "Patient/p1"), ("max", "3")]).patients == {"p1"}
