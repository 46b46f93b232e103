"""Alerts: findings and readings → per-patient policy → alert episodes → lifecycle, escalation
and delivery (ARCHITECTURE.md "Alerts in brief").

Roles by folder: ``policy/`` (rules, programme defaults, per-patient overrides), ``engine/``
(the pure condition evaluator and the bus consumer), ``episodes/`` (episodes, their history and
the REST API), ``escalation/`` (durable timers and chains), ``notify/`` (the notification port:
SMTP, websocket, SMS), ``adherence/`` (measurement schedules, reminders, technical alarms).

Hook for other packages (first-responder dispatch): ``alerts.episodes.service.get_alert(session,
alert_id)`` returns an ``AlertInfo`` (kind, priority, patient_id, state); a high-priority
cardiac arrest has ``kind == "cardiac_arrest"`` and ``priority == "high"``
(``AlertInfo.is_cardiac_arrest``).
"""
