"""Telemedpoint kiosk: the nurse's local web app at a village point, over device_bridge.

It drives the bridge in-process (devices → outbox → uplink), keeps its own small SQLite store
(identity, nurses' cached sign-in, patients, visits, local alerts) and works with no uplink.
"""
