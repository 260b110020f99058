"""Wires notifications: its settings, migrations and handlers (with the delivery worker) into the
shared service life cycle."""

from pathlib import Path

from shared import metrics
from shared.db import Connection
from shared.runtime import Service
from shared.telemetry import trace_module
from shared.topics import DEAD_LETTER, FirmEvent

from . import deliveries, handlers, record, repository
from .settings import NotificationSettings


def create_service(settings: NotificationSettings | None = None) -> Service:
    # Spans named for what the SQL does: notifications.repository.save_assignment, ...
    for module in (repository, deliveries, record):
        trace_module(module, module.__name__.replace("services.", ""))
    return Service(
        name="notifications",
        migrations=Path(__file__).parent / "migrations",
        register=handlers.register,
        settings=settings or NotificationSettings(),
        publishes=(FirmEvent.STAKEHOLDER_NOTIFIED, FirmEvent.DUTY_OF_INFORMATION, DEAD_LETTER),
        workers=(handlers.deliver,),
        samplers=(sample_deliveries,),
    )


async def sample_deliveries(connection: Connection) -> None:
    """`trailblazer_deliveries{channel, status}`: every delivery by where it stands."""
    rows = await connection.fetch("SELECT channel, status, count(*) AS n FROM deliveries GROUP BY 1, 2")
    metrics.DELIVERIES.clear()  # a status with no rows left reads 0, not its last figure
    for row in rows:
        metrics.DELIVERIES.labels(row["channel"], row["status"]).set(row["n"])
