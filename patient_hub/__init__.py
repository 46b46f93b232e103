"""patient_hub package."""
