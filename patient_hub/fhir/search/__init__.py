"""FHIR search parameters -> typed queries (pure, no I/O).

What a search may ask (FHIR R4 search, http://hl7.org/fhir/R4/search.html), per resource type:

* Observation: ``patient``/``subject`` (``Patient/ID``, ``ID`` or an absolute URL), ``code`` and
  ``category`` (tokens ``system|code``, ``|code``, ``code``), ``date`` and ``_lastUpdated``
  (prefixes eq ne gt lt ge le sa eb; partial dates are ranges), ``_id``, ``identifier``;
* Patient: ``_id``, ``identifier``, ``_lastUpdated``; Device: ``_id``, ``patient``,
  ``identifier``;
* everywhere: ``_count`` (default 50, at most 1000), ``_sort``, ``_summary=count``, ``_total``,
  paging by ``_cursor`` (opaque, from the links) or ``_offset``, ``_format``.

Commas inside one value mean OR; a parameter given twice means AND. An empty value is ignored
(as the spec says). An unknown parameter or modifier is refused with 400 unless the caller asked
for lenient handling (``Prefer: handling=lenient``); it is then dropped from the self link.

Codes resolve to *our* kinds, so LOINC and MDC codings of one measurement find the same rows; a
token matches every kind whose Observation carries that coding (LOINC 8867-4 is on heart rate and
pulse rate Observations, so both match; MDC 147842 is heart rate only). Systolic, diastolic and
mean pressure codes, and the panel codes, find BP panels (see ``Selection``).
"""
