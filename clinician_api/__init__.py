"""clinician_api package."""
