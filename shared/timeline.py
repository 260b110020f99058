"""One step of an assignment's journey, as each service tells it from its own database
(`services/<name>/timeline.py`) and `python -m services.journey` puts them in order.

Steps name ids, statuses, codes, countries and times: never a name, an address or a text."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, order=True)
class Step:
    at: datetime
    source: str  # intake, matching, notifications, or the topic a record is on
    what: str
