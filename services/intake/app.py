"""Wires intake: its settings, migrations and handlers into the shared service life cycle."""

from pathlib import Path

from shared.runtime import Service
from shared.settings import ServiceSettings
from shared.topics import ASSIGNMENT_CREATED, ASSIGNMENT_REJECTED, DEAD_LETTER

from . import handlers


def create_service(settings: ServiceSettings | None = None) -> Service:
    return Service(
        name="intake",
        migrations=Path(__file__).parent / "migrations",
        register=handlers.register,
        settings=settings or ServiceSettings(),
        publishes=(ASSIGNMENT_CREATED, ASSIGNMENT_REJECTED, DEAD_LETTER),
    )
