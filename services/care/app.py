"""Wires care: its settings, migrations and handlers, the timer worker and the check-in link
server, into the shared service life cycle."""

from pathlib import Path

import asyncpg

from shared.runtime import Service
from shared.settings import ServiceSettings
from shared.topics import CARE_CHECK_IN_DUE, DEAD_LETTER, FirmEvent

from . import handlers
from .links import LinkServer
from .settings import CareSettings
from .timers import TimerWorker


async def fire_deadlines(pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    await TimerWorker(pool, handlers.care_settings(settings)).run()


async def answer_links(pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    await LinkServer(pool, handlers.care_settings(settings)).run()


def create_service(settings: CareSettings | None = None) -> Service:
    return Service(
        name="care",
        migrations=Path(__file__).parent / "migrations",
        register=handlers.register,
        settings=settings or CareSettings(),
        publishes=(
            CARE_CHECK_IN_DUE,
            FirmEvent.CARE_ESCALATION,
            FirmEvent.DUTY_OF_CARE,
            FirmEvent.CARE_SCORECARD,
            FirmEvent.CARE_REFUSED,
            DEAD_LETTER,
        ),
        workers=(fire_deadlines, answer_links),
    )
