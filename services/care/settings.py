"""care's settings (prefix `TRAILBLAZER_`), on top of what every service reads."""

from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, SecretStr

from shared.settings import ConfigurationError, ServiceSettings, local_database_url

from .domain import DEFAULT_CHECK_INS, Policy


class FirmPolicy(BaseModel):
    """A firm's own rules (docs/care.md); what is left out keeps the default."""

    # Days relative to the assignment's start date, e.g. {"pre_departure": -7, "two_weeks": 14}.
    check_ins: dict[str, int] | None = None
    not_matched_working_days: Annotated[int, Field(ge=1, le=60)] | None = None
    acceptance_working_days: Annotated[int, Field(ge=1, le=60)] | None = None
    first_session_working_days: tuple[int, int] | None = None
    permit_working_days: Annotated[int, Field(ge=1, le=120)] | None = None
    delivery_failed_working_days: Annotated[int, Field(ge=1, le=30)] | None = None
    low_pulse_at_most: Annotated[int, Field(ge=1, le=9)] | None = None
    # The firm's case owner; HR's contact on the assignment if unset.
    owner_name: str | None = None
    owner_email: EmailStr | None = None


class CareSettings(ServiceSettings):
    database_url: str = Field(default=local_database_url("care"), repr=False)
    # JSON: {"<firm_id>": {...FirmPolicy...}}
    care_policies: dict[str, FirmPolicy] = {}
    # How often the timer worker looks for due deadlines.
    care_timer_poll_s: float = 1.0
    care_timer_batch: int = 50
    # system: the wall clock. database: the wall clock plus the offset in the `care_clock` table,
    # which `python -m services.care clock advance <days>` moves; for tests and rehearsals only.
    care_clock: Literal["system", "database"] = "system"
    # The check-in link: signed with this secret, answered on this port, reached at this URL.
    care_link_secret: SecretStr = SecretStr("")
    care_public_url: str = "http://127.0.0.1:8110"
    care_http_host: str = "127.0.0.1"
    care_http_port: int = 8110
    # How long a check-in link can be answered.
    care_link_valid_days: int = 21

    def policy(self, firm_id: str) -> Policy:
        own = self.care_policies.get(firm_id)
        if own is None:
            return Policy()
        chosen = {k: v for k, v in own.model_dump().items() if v is not None}
        if "check_ins" in chosen:
            chosen["check_ins"] = tuple(sorted(chosen["check_ins"].items(), key=lambda item: item[1]))
        return Policy(**chosen)

    def check_combinations(self) -> None:
        super().check_combinations()
        if len(self.care_link_secret.get_secret_value()) < 16:
            raise ConfigurationError(
                "TRAILBLAZER_CARE_LINK_SECRET must be set (16 characters or more): it signs the partner's"
                " check-in links"
            )


__all__ = ["DEFAULT_CHECK_INS", "CareSettings", "FirmPolicy"]
