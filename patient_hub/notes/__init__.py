"""Clinical notes and the contact log of a patient (who called whom, with what outcome)."""
