"""The kind -> LOINC/MDC/UCUM map in fhir/codes.json and its look-ups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patient_hub.fhir import FhirMappingError, codes_for, kind_for_coding, kind_for_codings
from patient_hub.fhir.codes import CODES_PATH, load_code_map
from telemed_core.kinds import UNITS, Kind

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
REPO = Path(__file__).resolve().parents[3]

#: reference/fhir.md section 3a: profile id, magic LOINC code and required UCUM code.
VITAL_SIGNS = {
    "heart_rate": ("heartrate", "8867-4", "/min"),
    "pulse_rate": ("heartrate", "8867-4", "/min"),
    "spo2": ("oxygensat", "2708-6", "%"),
    "body_temperature": ("bodytemp", "8310-5", "Cel"),
    "body_weight": ("bodyweight", "29463-7", "kg"),
    "respiratory_rate": ("resprate", "9279-1", "/min"),
    "bp_systolic": ("vitalsigns", "8480-6", "mm[Hg]"),
    "bp_diastolic": ("vitalsigns", "8462-4", "mm[Hg]"),
    "bp_mean": ("vitalsigns", "8478-0", "mm[Hg]"),
}

#: reference/fhir.md section 3b.
MDC_CODES = {
    "heart_rate": "147842",
    "pulse_rate": "149530",
    "spo2": "150456",
    "body_temperature": "150364",
    "body_weight": "188736",
    "respiratory_rate": "151562",
    "bp_systolic": "150021",
    "bp_diastolic": "150022",
    "bp_mean": "150023",
    "glucose": "160184",
}


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_codes_in_its_kernel_unit(kind: Kind) -> None:
    kc = codes_for(kind)
    assert kc.ucum == UNITS[kind]
    assert kc.mdc.system == MDC and kc.mdc.code.isdigit()


@pytest.mark.parametrize("kind", list(VITAL_SIGNS))
def test_vital_signs_carry_the_profile_loinc_and_ucum_of_the_reference(kind: str) -> None:
    profile, loinc, ucum = VITAL_SIGNS[kind]
    kc = codes_for(kind)
    assert kc.profile == f"http://hl7.org/fhir/StructureDefinition/{profile}"
    assert kc.loinc is not None and kc.loinc.code == loinc and kc.loinc.system == LOINC
    assert kc.ucum == ucum
    assert kc.category == "vital-signs"


@pytest.mark.parametrize(("kind", "mdc"), MDC_CODES.items())
def test_mdc_codes_are_those_of_the_reference(kind: str, mdc: str) -> None:
    assert codes_for(kind).mdc.code == mdc


def test_non_vital_kinds_claim_no_vital_signs_profile() -> None:
    for kind in ("rr_interval", "cuff_pressure", "battery_level", "glucose", "ecg"):
        kc = codes_for(kind)
        assert kc.profile is None and kc.category != "vital-signs"


def test_mdc_codes_are_unique_across_kinds() -> None:
    seen: dict[str, str] = {}
    for kind in Kind:
        kc = codes_for(kind)
        for code in (kc.mdc, *kc.mdc_aliases):
            assert code.code not in seen, f"{code.code} used by {seen.get(code.code)} and {kind}"
            seen[code.code] = kind


@pytest.mark.parametrize("kind", [k for k in Kind if k is not Kind.ECG])
def test_reverse_lookup_by_mdc_gives_the_kind(kind: Kind) -> None:
    assert kind_for_coding(MDC, codes_for(kind).mdc.code) == kind


def test_reverse_lookup_by_loinc_and_mdc_alias() -> None:
    assert kind_for_coding(LOINC, "2708-6") == "spo2"
    assert kind_for_coding(LOINC, "59408-5") == "spo2"
    assert kind_for_coding(LOINC, "8867-4") == "heart_rate"  # shared: the principal kind
    assert kind_for_coding(MDC, "149546") == "pulse_rate"  # pulse from a BP cuff
    assert kind_for_coding(LOINC, "0000-0") is None
    assert kind_for_coding("http://snomed.info/sct", "8867-4") is None
    assert kind_for_coding(None, None) is None


def test_codings_prefer_mdc_which_tells_pulse_from_heart_rate() -> None:
    codings = [{"system": LOINC, "code": "8867-4"}, {"system": MDC, "code": "149530"}]
    assert kind_for_codings(codings) == "pulse_rate"
    assert kind_for_codings([{"system": LOINC, "code": "8867-4"}]) == "heart_rate"
    assert kind_for_codings([]) is None


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(FhirMappingError, match="no FHIR codes for kind 'steps'"):
        codes_for("steps")


def test_codes_json_is_the_file_at_the_repository_root() -> None:
    assert CODES_PATH == REPO / "fhir" / "codes.json"
    raw = json.loads(CODES_PATH.read_text())
    assert set(raw["kinds"]) == {k.value for k in Kind}
    assert load_code_map().systems["mdc"] == MDC


def test_top_level_fhir_folder_holds_no_python_and_fhir_resources_still_imports() -> None:
    assert not list((REPO / "fhir").rglob("*.py"))
    import fhir.resources
    from fhir.resources.R4B.observation import Observation

    assert "site-packages" in str(Path(fhir.resources.__file__))
    assert Observation.__name__ == "Observation"
