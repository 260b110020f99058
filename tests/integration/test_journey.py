"""`journey` on the real stack: one assignment end to end, from the topics and the three
services' databases, with its trace link and no personal data."""

import asyncio

import pytest

from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import TopicReader
from services import journey
from shared import topics
from shared.topics import FirmEvent, firm_topic

pytestmark = pytest.mark.integration


async def test_journey_tells_one_assignment_end_to_end(
    local_stack: StackConfig, capsys: pytest.CaptureFixture[str], admin_env: dict[str, str]
) -> None:
    request = assignment_request(SAMPLE_FAMILIES[0])
    assignment_id = str(request["payload"]["assignment_id"])
    firm = request["firm_id"]  # a local firm: its topics come with the stack
    async with TopicReader(local_stack, firm_topic(firm, FirmEvent.STAKEHOLDER_NOTIFIED)) as reader:
        await publish(local_stack, [(record_key(request), encode(request))])
        [first, *_] = await reader.wait_for(lambda r: r.key == assignment_id, count=3, timeout_s=120)

    argv = [assignment_id, "--bootstrap", local_stack.kafka_bootstrap]
    for service in ("intake", "matching", "notifications"):
        argv += [f"--{service}-database-url", local_stack.database_url(service)]
    assert await asyncio.to_thread(journey.main, argv) == 0  # it runs an event loop of its own
    out = capsys.readouterr().out
    print(out)  # shown when the test fails
    lines = out.splitlines()
    assert lines[0] == f"journey of assignment {assignment_id} (firm nordic-relocation)"
    assert f"trace: http://127.0.0.1:9411/zipkin/traces/{first.trace_id}" in out
    for source, text in (
        (firm_topic(firm, FirmEvent.ASSIGNMENT_REQUESTED), "assignment.requested"),
        ("intake", "accepted for firm nordic-relocation: host country NO"),
        (topics.ASSIGNMENT_CREATED, "assignment.created"),
        ("matching", "partner open for matching in NO"),
        ("matching", "proposed coach "),
        (topics.MATCH_PROPOSED, "match.proposed: coach "),
        ("notifications", "composed "),
        ("notifications", "sent email to partner"),
        (firm_topic(firm, FirmEvent.STAKEHOLDER_NOTIFIED), "stakeholder.notified: partner by email"),
        (firm_topic(firm, FirmEvent.DUTY_OF_INFORMATION), "duty_of_information"),
    ):
        assert any(f" {source}" in line and text in line for line in lines), (source, text)
    times = [line[:23] for line in lines if line[:4].isdigit()]
    assert times == sorted(times), "in time order"
    for personal in (request["payload"]["partner"]["full_name"], request["payload"]["partner"]["email"]):
        assert personal not in out
