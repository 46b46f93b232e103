"""Topic-based subscriptions (Subscriptions R5 Backport IG, websocket channel): the stored
Subscriptions, topic matching, per-subscription event numbering and the durable event log.

Events are numbered once, in the database, by the bus consumer group ``subscriptions``
(:class:`SubscriptionEventWorker`, one consumer per API process): for each matching active
subscription it locks the subscription row, skips events already logged (unique per
subscription and source key: a reading's observation id, a finding's state), numbers the new ones
from ``events_count + 1`` and commits the log entries with the new count. Only then does it
publish them on :data:`TOPIC_SUBSCRIPTION_EVENTS`, a broadcast that every API process tails to
push to the websockets bound there. A redelivered bus message (at-least-once) numbers nothing
twice; a missed push is recovered from the log with ``$events`` (the client sees the gap in
``eventsSinceSubscriptionStart``).

Roles: ``topics.py`` (topics and the Backport IG's constants), ``models.py`` (tables),
``parse.py`` (a posted Subscription), ``store.py`` (create, read, delete, the event log),
``notifications.py`` (notification Bundles), ``events.py`` (matching and numbering),
``worker.py`` (:class:`SubscriptionEventWorker`).
"""
