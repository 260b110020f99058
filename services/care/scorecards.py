"""Control: a provider's scorecard as one firm's partners experience it, recomputed from the
stored events and published on the firm's scorecard topic (keyed by provider, compacted)."""

from datetime import datetime

from shared import outbox
from shared.contracts.care import CoachFigures, ProviderScorecard, ProviderScorecardPayload
from shared.db import Connection
from shared.topics import FirmEvent, firm_topic

from . import domain, repository


async def compute(connection: Connection, firm_id: str, provider_id: str, at: datetime) -> ProviderScorecardPayload:
    engagements = await repository.engagements(connection, firm_id, provider_id)
    by_coach: dict[str, list[domain.Engagement]] = {}
    for engagement in engagements:
        by_coach.setdefault(engagement.coach_id, []).append(engagement)
    return ProviderScorecardPayload(
        provider_id=provider_id,
        figures=domain.figures(engagements),
        coaches=[
            CoachFigures(coach_id=coach, **domain.figures(by_coach[coach]).model_dump()) for coach in sorted(by_coach)
        ],
        computed_at=at,
    )


async def publish_for_coach(
    connection: Connection, firm_id: str, correlation_id: str, coach_id: str | None, at: datetime
) -> None:
    """After a fact about a coach's partner: the provider's new scorecard for this firm. A coach
    whose provider is not known yet counts once its provider's catalog names it. The scorecard is
    recomputed from every engagement of the firm with the provider, so it is made once per
    transaction (a batch of events about one provider) at its end, from the state then."""
    provider_id = await repository.provider_of(connection, coach_id)
    if provider_id is None:
        return

    async def publish() -> None:
        scorecard = ProviderScorecard.create(
            firm_id=firm_id,
            correlation_id=correlation_id,
            payload=await compute(connection, firm_id, provider_id, at),
        )
        await outbox.add_event(
            connection, topic=firm_topic(firm_id, FirmEvent.CARE_SCORECARD), key=provider_id, event=scorecard
        )

    await outbox.add_latest(connection, ("scorecard", firm_id, provider_id), publish)
