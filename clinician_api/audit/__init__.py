"""Who looked at a patient: the audit trail for admins, as JSON and as FHIR AuditEvent."""
