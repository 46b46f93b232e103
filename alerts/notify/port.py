"""The notification port: one ``Notifier`` interface, one adapter per channel.

Adapters: e-mail over SMTP (``SmtpNotifier``, the standard library's client in a thread), the
websocket of an open screen (``ScreenNotifier``: a ``notices`` message on the bus, which every
API process pushes to the recipient's screens), and SMS behind ``SmsGateway`` with a logging
default (``LoggingSms``; no gateway is reachable here). Messages name no diagnosis and no
values (reference/clinical-workflow.md P3): they ask the patient to measure, or link to the
screen.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from patient_hub.bus.base import Bus

log = logging.getLogger(__name__)
TOPIC_NOTICES = "notices"


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to one recipient on one channel."""

    patient_id: str
    channel: str  # email | sms | websocket
    recipient: str  # e-mail address, E.164 phone, or the patient id for their own screens
    subject: str
    body: str


class NotifyError(Exception):
    """The channel refused or could not take the message."""


class Notifier(Protocol):
    """Port of one channel."""

    channel: str

    async def send(self, message: Message) -> None:
        """Hand the message to the channel; raise NotifyError when it cannot."""
        ...


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0


class SmtpNotifier:
    """E-mail over SMTP."""

    channel = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = (
            self.settings.sender,
            message.recipient,
            message.subject,
        )
        mail.set_content(message.body)
        try:
            await asyncio.to_thread(self._deliver, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"SMTP {self.settings.host}:{self.settings.port}: {exc}") from exc

    def _deliver(self, mail: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
            if s.starttls:
                smtp.starttls()
            if s.username and s.password:
                smtp.login(s.username, s.password)
            smtp.send_message(mail)


class SmsGateway(Protocol):
    """An SMS provider's API (none is reachable here)."""

    async def send_sms(self, phone: str, text: str) -> None: ...


class LoggingSms:
    """The default SMS gateway: writes the SMS to the log (and the notifications table)."""

    async def send_sms(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)


class SmsNotifier:
    channel = "sms"

    def __init__(self, gateway: SmsGateway | None = None) -> None:
        self.gateway = gateway or LoggingSms()

    async def send(self, message: Message) -> None:
        await self.gateway.send_sms(message.recipient, f"{message.subject}: {message.body}")


class ScreenNotifier:
    """The recipient's open screens, through the bus (any API process may hold the socket)."""

    channel = "websocket"

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def send(self, message: Message) -> None:
        notice = {
            "patient_id": message.patient_id,
            "subject": message.subject,
            "body": message.body,
        }
        await self.bus.publish(TOPIC_NOTICES, {"notices": [notice]})
