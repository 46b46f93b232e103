"""Care teams: which clinicians follow which patients (cohorts), managed by admins."""
