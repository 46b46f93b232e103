"""kiosk domain: kiosk enrolment, offline registrations, teleconsultation requests."""
