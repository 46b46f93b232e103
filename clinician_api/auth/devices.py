"""A readable name of the browser and system behind a session ("Firefox on Windows"), parsed
from its User-Agent with ua-parser (Browserscope's rules, pinned in pyproject.toml)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from ua_parser import parse

#: Families ua-parser reports for what it does not know.
_UNKNOWN = frozenset({"", "Other", "Spider", "Generic Smartphone"})


class Device(NamedTuple):
    browser: str  # "Firefox"; a script's own name ("python-httpx/0.28.1"); "" if none was sent
    system: str  # "Windows", "iOS"; "" when unknown
    model: str  # "iPhone", "Samsung SM-S911B"; "" when unknown


@lru_cache(maxsize=512)
def device_of(user_agent: str | None) -> Device:
    """Browser, system and phone model named by ``user_agent``."""
    if not user_agent:
        return Device("", "", "")
    result = parse(user_agent)

    def known(family: str | None) -> str:
        return "" if family is None or family in _UNKNOWN else family

    browser = known(result.user_agent.family if result.user_agent else None)
    system = known(result.os.family if result.os else None)
    model = known(result.device.family if result.device else None)
    return Device(browser or user_agent.split(" ", 1)[0][:60], system, model)


def device_label(user_agent: str | None) -> str:
    """ "Firefox on Windows", "Mobile Safari on iOS (iPhone)", "python-httpx/0.28.1" (English;
    the screens compose it in the reader's language from :func:`device_of`)."""
    d = device_of(user_agent)
    label = f"{d.browser} on {d.system}" if d.system else d.browser
    return f"{label} ({d.model})" if d.model else label
