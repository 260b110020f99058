"""notifications' settings (prefix `TRAILBLAZER_`), on top of what every service reads."""

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from shared.settings import ServiceSettings


class FirmWebhook(BaseModel):
    url: AnyHttpUrl
    secret: SecretStr


class NotificationSettings(ServiceSettings):
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8125
    smtp_sender: str = "duty-of-information@trailblazer.example"
    smtp_timeout_s: float = 10.0
    # JSON: {"<firm_id>": {"url": "https://...", "secret": "..."}}; a firm without an entry gets no webhooks.
    firm_webhooks: dict[str, FirmWebhook] = {}
    webhook_timeout_s: float = 10.0
    delivery_max_attempts: int = 6
    delivery_backoff_s: float = 2.0
    delivery_backoff_cap_s: float = 300.0
    # A claimed delivery whose worker died is claimed again after this long (see docs: SMTP window).
    delivery_lease_s: float = 60.0
    delivery_poll_s: float = 1.0
