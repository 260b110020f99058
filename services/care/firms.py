"""Which firms are onboarded for the duty of care: those whose own care topics exist.

care writes to a firm's own topics; a record for a topic that does not exist would stall the
outbox relay behind it (topics are never auto-created). So care takes on an assignment only when
its firm's duty-of-care topic is there, and says so in the log otherwise.
"""

import logging
import time

from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka_security import KafkaSecurity
from shared.settings import ServiceSettings
from shared.topics import CARE_FIRM_OUTBOUND, firm_topic, is_valid_tenant_id

log = logging.getLogger(__name__)

_REFRESH_S = 5.0


class OnboardedFirms:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._topics: set[str] = set()
        self._listed_at = 0.0

    async def has_care_topics(self, firm_id: str) -> bool:
        if not is_valid_tenant_id(firm_id):
            return False  # an id the topic convention does not allow has no topics of its own
        wanted = {firm_topic(firm_id, event) for event in CARE_FIRM_OUTBOUND}
        if not wanted <= self._topics and time.monotonic() - self._listed_at > _REFRESH_S:
            await self._refresh()
        return wanted <= self._topics

    async def _refresh(self) -> None:
        security = KafkaSecurity.from_settings(self._settings)
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._settings.kafka_bootstrap, client_id="trailblazer-care", **security.client_options()
        )
        await admin.start()
        try:
            self._topics = set(await admin.list_topics())
            self._listed_at = time.monotonic()
        finally:
            await admin.close()
