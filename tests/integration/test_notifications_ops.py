"""The operator's command for parked deliveries, on the real stack: a delivery parked for real
(the firm's webhook answers 410), listed, re-queued, and delivered once the firm answers again;
the re-queue on the firm's duty-of-information topic; refusals; running it twice."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import Received, TopicReader
from services.notifications import parked
from shared.topics import FirmEvent, firm_topic

from .notifications_helpers import (
    FirmEndpoint,
    about,
    consent_withdrawn,
    deliveries_cli,
    notifications_calling,
    own_addresses,
    send,
    wait_for_row,
    wait_status,
    withdrawals_of,
)

pytestmark = pytest.mark.integration

FIRM = f"parking-{uuid.uuid4().hex[:8]}"  # a stack directory may be reused: this run's deliveries only


@pytest.fixture(scope="module")
def firm(local_stack: StackConfig) -> Iterator[FirmEndpoint]:
    """A firm whose webhook answers 410 Gone (a permanent failure) until the test says otherwise."""
    with notifications_calling(local_stack, {FIRM: "/parking"}, {"/parking": 410}) as endpoint:
        yield endpoint


def history(records: list[Received], delivery_id: str) -> list[tuple[str, int]]:
    """(status, attempts) of one delivery on the duty-of-information topic, in order."""
    return [
        (r.value["payload"]["status"], r.value["payload"]["attempts"])
        for r in records
        if r.value["payload"]["delivery_id"] == delivery_id
    ]


async def test_a_parked_delivery_is_requeued_and_delivered_and_a_withdrawn_partner_is_not(
    local_stack: StackConfig, firm: FirmEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    request = assignment_request(SAMPLE_FAMILIES[2], firm_id=FIRM)
    request["payload"]["partner"]["channels"] = ["email", "firm_portal"]  # the portal: the firm's webhook
    assignment_id = request["payload"]["assignment_id"]
    partner_email, employee_email = own_addresses(request)
    personal = [
        partner_email,
        employee_email,
        request["payload"]["hr_contact"]["email"],
        request["payload"]["partner"]["full_name"],
        request["payload"]["employee"]["full_name"],
    ]
    database_url = local_stack.database_url("notifications")
    async with TopicReader(local_stack, firm_topic(FIRM, FirmEvent.DUTY_OF_INFORMATION)) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=FIRM)
        parked_both = {("hr", "webhook"): "failed", ("partner", "webhook"): "failed"}
        records = await wait_status(reader, assignment_id, parked_both)
        ids = {
            r.value["payload"]["stakeholder"]: r.value["payload"]["delivery_id"]
            for r in records
            if r.value["payload"]["status"] == "failed"
        }
        hr_hook, partner_hook = ids["hr"], ids["partner"]

        # Listed, without personal data.
        code, out = await deliveries_cli(local_stack, "list", "--firm", FIRM)
        assert code == 0
        assert hr_hook in out and partner_hook in out and "webhook_http_410" in out
        assert not [p for p in personal if p in out] and "@" not in out

        # The partner withdraws consent; their parked delivery must stay parked.
        await send(local_stack, withdrawals_of(request), assignment_id, consent_withdrawn(request))
        await wait_for_row(
            database_url, "SELECT 1 FROM consent_withdrawals WHERE assignment_id = $1", uuid.UUID(assignment_id)
        )

        # The firm's endpoint is back; the operator re-queues both.
        firm.answers["/parking"] = 204
        assert await parked.main(["--database-url", database_url, "requeue", hr_hook, partner_hook]) == 1
        printed = capsys.readouterr()
        assert f"{hr_hook} requeued" in printed.out
        assert f"{partner_hook} refused: the partner withdrew consent" in printed.err
        assert "1 requeued, 0 unchanged, 1 refused" in printed.out

        records = await wait_status(reader, assignment_id, {("hr", "webhook"): "delivered"})
        # Revision 2 of the record: no `queued` when first queued, one when the operator re-queues.
        assert history(records, hr_hook) == [("failed", 1), ("queued", 0), ("delivered", 1)]
        assert [b["stakeholder"] for b in firm.bodies(assignment_id)].count("hr") == 2, "attempted again"

        # Twice changes nothing twice; --all-failed finds only the refused one.
        assert await parked.main(["--database-url", database_url, "requeue", hr_hook]) == 0
        assert f"{hr_hook} unchanged: not parked: already delivered" in capsys.readouterr().out
        code, out = await deliveries_cli(local_stack, "requeue", "--firm", FIRM, "--all-failed")
        assert code == 1 and "0 requeued, 0 unchanged, 1 refused" in out and partner_hook in out

        code, out = await deliveries_cli(local_stack, "list", "--firm", FIRM, "--status", "all")
        assert code == 0 and "@" not in out and not [p for p in personal if p in out]
        lines = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
        assert lines[hr_hook][5:7] == ["delivered", "1"]
        assert lines[partner_hook][5:7] == ["failed", "1"]

        code, out = await deliveries_cli(local_stack, "requeue", str(uuid.uuid4()))
        assert code == 2 and "nothing requeued" in out
        await asyncio.sleep(2)  # a second `queued` record, had the repeat written one, is on the topic by now
        records = reader.matching(about(FirmEvent.DUTY_OF_INFORMATION, assignment_id))
    assert history(records, hr_hook).count(("queued", 0)) == 1
    assert history(records, partner_hook) == [("failed", 1)]
    assert len([b for b in firm.bodies(assignment_id) if b["stakeholder"] == "partner"]) == 1
