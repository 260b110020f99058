"""Webhook signatures as a firm checks them: with the Standard Webhooks library's own verifier."""

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import standardwebhooks.webhooks
from pydantic import ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifications.channels import signed_headers
from services.notifications.settings import FirmWebhook, NotificationSettings


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


OLD, NEW = new_secret(), new_secret()
BODY = json.dumps({"delivery_id": "d-1", "subject": "Pflicht zur Information erfüllt"}, ensure_ascii=False).encode()


def hook(*secrets: str) -> FirmWebhook:
    return FirmWebhook.model_validate({"url": "https://hr.firm.example/hooks", "secrets": list(secrets)})


def signed(webhook: FirmWebhook, *, at: datetime | None = None) -> dict[str, str]:
    return signed_headers(webhook, "d-1", BODY, at or datetime.now(UTC))


def test_a_firm_verifies_a_webhook_with_the_standard_webhooks_library() -> None:
    headers = signed(hook(OLD))
    assert Webhook(OLD).verify(BODY, headers) == json.loads(BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "d-1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body + b" ", headers),
        lambda body, headers: (body, {**headers, "webhook-id": "d-2"}),
        lambda body, headers: (body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}),
    ],
)
def test_a_changed_body_id_or_timestamp_does_not_verify(tamper: Any) -> None:
    body, headers = tamper(BODY, signed(hook(OLD)))
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(body, headers)


def test_during_a_rotation_either_secret_verifies_and_a_removed_one_no_longer_does() -> None:
    rotating = signed(hook(OLD, NEW))
    assert len(rotating["webhook-signature"].split(" ")) == 2
    Webhook(OLD).verify(BODY, rotating)  # the firm has not switched yet
    Webhook(NEW).verify(BODY, rotating)  # the firm switched
    after = signed(hook(NEW))  # rotation finished: the old secret is removed from the settings
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(OLD).verify(BODY, after)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(new_secret()).verify(BODY, rotating)


class _SixMinutesLater(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> "_SixMinutesLater":
        moment = datetime.now(tz) + timedelta(minutes=6)
        return cls.fromtimestamp(moment.timestamp(), tz)


def test_a_replay_after_the_tolerance_is_refused_by_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """A captured request replayed more than 5 minutes later: the signature is still right, the
    library refuses the timestamp. (Inside the window the firm drops a repeated webhook-id.)"""
    captured = signed(hook(OLD))
    Webhook(OLD).verify(BODY, captured)
    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", _SixMinutesLater)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(OLD).verify(BODY, captured)
    with pytest.raises(WebhookVerificationError, match="too new"):
        Webhook(OLD).verify(BODY, signed(hook(OLD), at=datetime.now(UTC) + timedelta(minutes=12)))


def test_the_settings_take_one_secret_or_two() -> None:
    settings = NotificationSettings(
        firm_webhooks={
            "one": {"url": "https://a.example/h", "secret": OLD},
            "two": {"url": "https://b.example/h", "secrets": [OLD, NEW]},
        }
    )
    assert [len(h.secrets) for h in settings.firm_webhooks.values()] == [1, 2]


@pytest.mark.parametrize(
    "secrets",
    [
        ["firm-shared-secret"],  # the former home-made scheme's free text
        ["whsec_" + base64.b64encode(b"short").decode()],
        ["whsec_not base64!"],
        [],
        [OLD, NEW, new_secret()],
    ],
)
def test_a_secret_that_the_firms_library_could_not_use_is_refused_without_quoting_it(secrets: list[str]) -> None:
    with pytest.raises(ValidationError) as refused:
        FirmWebhook.model_validate({"url": "https://hr.firm.example/hooks", "secrets": secrets})
    for secret in secrets:
        assert secret.removeprefix("whsec_") not in str(refused.value)
