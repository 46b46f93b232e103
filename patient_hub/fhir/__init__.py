"""FHIR R4 mapping of the hub's data (Vital Signs profiles + HL7 PHD IG), pure functions.

The REST facade, transactions and subscriptions build on these; nothing here does I/O except
reading ``fhir/codes.json`` once. Not named ``fhir`` at top level: ``fhir.resources`` owns that
import name (ARCHITECTURE.md, "Why fhir/ holds no Python").
"""

from patient_hub.fhir.codes import (
    Code,
    CodeMap,
    KindCodes,
    codes_for,
    kind_for_coding,
    kind_for_codings,
    load_code_map,
)
from patient_hub.fhir.derived_observations import derived_observation
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.finding_observations import finding_to_fhir
from patient_hub.fhir.inverse import observation_to_readings, supported_units
from patient_hub.fhir.mapping import (
    bp_panel,
    data_absent_reason,
    observations_from_rows,
    reading_identifier,
    reading_to_observation,
)
from patient_hub.fhir.resources import device_to_fhir, gateway_to_fhir, patient_to_fhir
from patient_hub.fhir.waveform import chunk_to_observation, observation_to_chunk

__all__ = [
    "Code",
    "CodeMap",
    "FhirMappingError",
    "KindCodes",
    "bp_panel",
    "chunk_to_observation",
    "codes_for",
    "data_absent_reason",
    "derived_observation",
    "device_to_fhir",
    "finding_to_fhir",
    "gateway_to_fhir",
    "kind_for_coding",
    "kind_for_codings",
    "load_code_map",
    "observation_to_chunk",
    "observation_to_readings",
    "observations_from_rows",
    "patient_to_fhir",
    "reading_identifier",
    "reading_to_observation",
    "supported_units",
]
