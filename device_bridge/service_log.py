"""Structured logs of a bridge run as a service: one JSON object per line, one event name each
(``link``, ``batch_refused``, ``backlog``, ``radio``, ...), so that journald or a log shipper
can alert on them. The status view shows the same facts to a person at a terminal."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

log = logging.getLogger("telemed.bridge")


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured event (fields must be JSON-serialisable or are shown with str())."""
    log.log(level, "%s", json.dumps({"event": name, **fields}, default=str, ensure_ascii=False))


class JsonLines(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., ...event fields}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        head: dict[str, object] = {"ts": ts, "level": record.levelname.lower()}
        message = record.getMessage()
        try:
            body = json.loads(message) if message.startswith("{") else {"message": message}
        except json.JSONDecodeError:
            body = {"message": message}
        if record.name != log.name:
            head["logger"] = record.name
        return json.dumps({**head, **body}, default=str, ensure_ascii=False)


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the bridge's loggers (a service has no status view)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger("device_bridge")
    for logger in (log, root):
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
