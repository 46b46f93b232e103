"""The FHIR R4 REST facade under ``/fhir`` (mapping and search logic live in patient_hub.fhir)."""
