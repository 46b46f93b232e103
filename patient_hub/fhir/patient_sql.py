"""SQL conditions of the Patient search parameters on the patient record (identifier, name,
birthdate, gender)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, not_, or_

from patient_hub.fhir.patient_params import BirthdateFilter, NameFilter
from patient_hub.fhir.search.queries import PatientQuery
from patient_hub.patients.models import Patient


def patient_demographic_conditions(q: PatientQuery) -> list[Any]:
    conds: list[Any] = []
    for ids, numbers in q.identifiers:
        either = [Patient.id.in_(sorted(ids))] if ids else []
        either += [Patient.national_id.in_(sorted(numbers))] if numbers else []
        conds.append(or_(*either) if either else false())
    conds += [_name(f) for f in q.names]
    conds += [_birthdate(f) for f in q.birthdates]
    conds += [Patient.sex.in_(sorted(g)) for g in q.genders]
    return conds


def _starts_a_word(column: Any, value: str) -> Any:
    text = func.lower(func.coalesce(column, ""))
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        text.like(f"{escaped}%", escape="\\"),
        text.like(f"% {escaped}%", escape="\\"),
        text.like(f"%-{escaped}%", escape="\\"),
    )


def _name(f: NameFilter) -> Any:
    columns = {
        "name": (Patient.display_name, Patient.family_name, Patient.given_name),
        "family": (Patient.family_name,),
        "given": (Patient.given_name,),
    }[f.part]
    return or_(*(_starts_a_word(c, v) for c in columns for v in f.values))


def _birthdate(f: BirthdateFilter) -> Any:
    col = Patient.birth_date
    match f.op:
        case "eq":
            return (col >= f.lo) & (col < f.hi)
        case "ne":
            return not_((col >= f.lo) & (col < f.hi))
        case "lt" | "eb":
            return col < f.lo
        case "le":
            return col < f.hi
        case "gt" | "sa":
            return col >= f.hi
        case "ge":
            return col >= f.lo
