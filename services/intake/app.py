"""Wires intake: its settings, migrations and handlers into the shared service life cycle."""

from pathlib import Path

from pydantic import Field

from shared.runtime import Service
from shared.settings import ServiceSettings, local_database_url
from shared.telemetry import trace_module
from shared.topics import ASSIGNMENT_CREATED, DEAD_LETTER, FirmEvent

from . import handlers, repository


class IntakeSettings(ServiceSettings):
    database_url: str = Field(default=local_database_url("intake"), repr=False)


def create_service(settings: ServiceSettings | None = None) -> Service:
    trace_module(repository, "intake.repository")  # spans named for what the SQL does
    return Service(
        name="intake",
        migrations=Path(__file__).parent / "migrations",
        register=handlers.register,
        settings=settings or IntakeSettings(),
        publishes=(ASSIGNMENT_CREATED, FirmEvent.ASSIGNMENT_REJECTED, DEAD_LETTER),
    )
