"""All SQL of the FHIR facade: Observation search, read and $lastn; Patient and Device.

Observations come from three tables, each row one Observation except BP components:

* ``readings``: one Observation per row (``r-<id>``), except that systolic + diastolic (+ mean)
  of one patient, device and ``measured_at`` are one 85354-9 panel whose id is its systolic
  row's (``bp-<id>``); its diastolic and mean rows are not returned on their own by a search
  (reading ``r-<id>`` of a component still answers, as the single reading it is);
* ``sample_chunks``: one ECG lead chunk, ``ecg-<id>``, dated by its first sample;
* ``findings``: ``f-<id>``, dated by its period (open while ongoing).

A search is keyset-paged on ``(date or lastUpdated, source, id)``: stable while new readings
arrive, and every page is an index range scan. "One patient's last day of one code" is a range
of ``ix_readings_patient_kind_time (patient_id, kind, measured_at)`` per kind the code means.
Roles: ``results.py`` (hits, pages, loaded resources), ``conditions.py`` (the WHERE clauses:
kinds, panels, ids, dates, patients, channels, the keyset), ``observations.py`` (Observation
search, count, identifiers), ``loading.py`` (rows -> resources, read), ``lastn.py``
(``$lastn``), ``patients.py`` (Patient search), ``devices.py`` (PHD and gateway Devices).
"""
