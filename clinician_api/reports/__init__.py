"""Per-patient period reports for the GP or cardiologist (PDF)."""
