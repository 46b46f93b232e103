"""PHD-IG transaction Bundles from any standard gateway -> readings, all or nothing.

Two steps, so that nothing is half-written (ARCHITECTURE.md):

1. :func:`parse_bundle` (pure): fhir.resources R4B validation of every entry, the request of
   each entry, and the mapping of every Observation (``observation_to_readings``).
2. :func:`apply` (in the caller's transaction; it never commits): resolve the Patient and Device
   entries, check the uploader may post for each patient, look up conditional-create keys,
   then insert the new keys and readings. The caller commits, then publishes the returned
   readings on ``readings`` exactly like bridge ingest, so they flow through the same processing.

Idempotency. An Observation's conditional-create identifier (``ifNoneExist=identifier=s|v``)
is stored once in ``fhir_observation_keys``, unique by sha256 of ``system|value`` (a long PHD
identifier is never truncated into a false match). Its readings go to the ordinary readings
table under the uploader's synthetic bridge id (``fhir:gw:<bridge>`` or ``fhir:user:<user id>``)
with ``seq = key id * SEQ_STRIDE + component``: the key's primary key is never reused, so
(bridge_id, seq) stays unique without a per-source counter, and a repost finds the key and
writes nothing (200 with the existing location).

Patients are never created here: enrolment (programme, telemedpoint, consent) is an admin act in
``/api/patients``. A Patient entry must resolve to an enrolled patient the uploader may post for
(by our identifier ``https://fhir.telemed.example/sid/patient|<id>``); otherwise 422. The hub keeps
no device registry (a Device is known through its readings, see ``device_to_fhir``), so Device
entries are resolved to a device id and answered 200 without a write. A standard gateway's PHD
Device gets the id ``eui64-<16 hex>`` (System-Id) or ``btmac-<12 hex>`` (Bluetooth MAC).

Roles: ``plan.py`` (the parsed Bundle, the answers and who posts, as types), ``parse.py``
(step 1), ``storage.py`` (step 2), ``models.py`` (the ``fhir_observation_keys`` table),
``uploaders.py`` (who may post).
"""
