"""What a batch claims for its records before their effects run: the event ids services made."""

import uuid

from shared.inbox import event_id_of
from shared.topics import (
    ASSIGNMENT_CREATED,
    DEAD_LETTER,
    FirmEvent,
    ProviderEvent,
    firm_topic,
    provider_topic,
    written_by_services,
)


def test_the_event_id_is_read_from_the_start_of_an_envelope_as_effects_write_it() -> None:
    event_id = uuid.uuid4()
    body = f'{{"event_id":"{str(event_id).upper()}","event_type":"x","payload":{{}}}}'.encode()
    assert event_id_of(body) == str(event_id)
    assert event_id_of(b' {\n  "event_id" : "' + event_id.hex.encode() + b'"}') == str(event_id)


def test_a_body_that_does_not_start_with_an_event_id_claims_nothing() -> None:
    nested = f'{{"event_type":"x","payload":{{"event_id":"{uuid.uuid4()}"}}}}'.encode()
    for body in (None, b"", b"not json", nested, b'{"event_id":"not-a-uuid-at-all-000000000000"}', b'{"event_id":7}'):
        assert event_id_of(body) is None


def test_only_topics_services_write_have_their_event_ids_claimed_by_the_batch() -> None:
    assert written_by_services(ASSIGNMENT_CREATED)
    assert written_by_services(DEAD_LETTER)
    assert written_by_services(firm_topic("nordic-relocation", FirmEvent.DUTY_OF_INFORMATION))
    assert written_by_services(provider_topic("sample-coaching", ProviderEvent.CATALOG_REJECTED))
    # A firm's or provider's own writes: the event id is theirs, claimed by the effect after its checks.
    assert not written_by_services(firm_topic("nordic-relocation", FirmEvent.ASSIGNMENT_REQUESTED))
    assert not written_by_services(firm_topic("nordic-relocation", FirmEvent.MATCH_ACCEPTED))
    assert not written_by_services(provider_topic("sample-coaching", ProviderEvent.CATALOG_JOB_LEADS))
    assert not written_by_services("trailblazer.unknown.v1")
