"""Errors raised by the GATT decoders.

Both are ``ValueError`` subclasses, so a bridge that only wants "bad input" can catch ValueError;
a bridge that quarantines payloads should tell them apart: a malformed payload is the device's
fault (keep the raw bytes, flag the device), an unsupported characteristic is a routing mistake on
our side (the bytes were handed to the wrong decoder).
"""

from __future__ import annotations


class MalformedPayload(ValueError):
    """The bytes do not follow the characteristic's layout; the message says what is wrong."""


class UnsupportedCharacteristic(ValueError):
    """The characteristic is unknown here, or is not handled by the function that was called."""
