"""Wires notifications: its settings, migrations and handlers (with the delivery worker) into the
shared service life cycle."""

from pathlib import Path

from shared.runtime import Service
from shared.topics import DEAD_LETTER, DUTY_OF_INFORMATION, STAKEHOLDER_NOTIFIED

from . import handlers
from .settings import NotificationSettings


def create_service(settings: NotificationSettings | None = None) -> Service:
    return Service(
        name="notifications",
        migrations=Path(__file__).parent / "migrations",
        register=handlers.register,
        settings=settings or NotificationSettings(),
        publishes=(STAKEHOLDER_NOTIFIED, DUTY_OF_INFORMATION, DEAD_LETTER),
        workers=(handlers.deliver,),
    )
