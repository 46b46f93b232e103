"""Kiosk enrolment and teleconsultation tasks over HTTP."""
