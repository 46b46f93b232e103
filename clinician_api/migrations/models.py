"""Imports every ORM module so that one metadata describes the whole server schema."""

from __future__ import annotations

import alerts.adherence.models
import alerts.dispatch.models
import alerts.episodes.models
import alerts.escalation.models
import alerts.notify.models
import alerts.policy.models  # noqa: F401
import patient_hub.accounts.models
import patient_hub.accounts.security_models
import patient_hub.audit.models
import patient_hub.devices.models
import patient_hub.fhir.subscriptions.models
import patient_hub.fhir.transaction.models
import patient_hub.findings.models
import patient_hub.ingest.models
import patient_hub.kiosk.models
import patient_hub.notes.models
import patient_hub.patients.models  # noqa: F401
from patient_hub.db import Base

metadata = Base.metadata
