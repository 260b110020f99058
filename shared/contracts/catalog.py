"""The catalog matching ranks from: career coaches and job leads in host locations."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, EmailStr, Field

from .common import (
    Contract,
    CountryCode,
    Goal,
    Identifier,
    LanguageSkill,
    Location,
    Name,
    Sector,
    ShortText,
    WorkPermitStatus,
)
from .envelope import UtcDatetime

_TIMEZONES = frozenset(available_timezones())


def _known_timezone(name: str) -> str:
    if name not in _TIMEZONES:
        raise ValueError(f"'{name}' is not an IANA time zone such as Europe/Oslo")
    return name


Timezone = Annotated[str, AfterValidator(_known_timezone)]


class Coach(Contract):
    strict_input: ClassVar[bool] = True  # written by providers: unknown fields refused

    coach_id: Identifier
    display_name: Name
    contact_email: EmailStr
    languages: Annotated[list[LanguageSkill], Field(min_length=1)]
    sectors: list[Sector]
    specialties: Annotated[list[Goal], Field(min_length=1)]
    cities: list[Location] = []
    countries: list[CountryCode] = []
    remote: bool
    timezone: Timezone
    # Concurrent partners the coach takes on; lowering it below the current load re-assigns.
    capacity: Annotated[int, Field(ge=0, le=200)]
    rating: Annotated[float, Field(ge=0, le=5)]
    active: bool = True
    # Not taking new partners before this day (parental leave, a full quarter), if set.
    available_from: date | None = None
    # Hours a week the coach gives to Trailblazer partners, if the provider says.
    weekly_hours: Annotated[int, Field(ge=1, le=60)] | None = None


class LeadKind(StrEnum):
    """Not every partner seeks a job: networks and education count as leads too."""

    JOB = "job"
    NETWORK = "network"
    EDUCATION = "education"
    VOLUNTEERING = "volunteering"


class JobLead(Contract):
    strict_input: ClassVar[bool] = True  # written by providers: unknown fields refused

    job_lead_id: Identifier
    kind: LeadKind = LeadKind.JOB
    title: ShortText
    organisation: ShortText
    location: Location
    remote: bool
    sector: Sector
    occupation: ShortText
    skills: list[ShortText] = []
    required_languages: list[LanguageSkill] = []
    work_rights_required: bool
    visa_sponsorship: bool
    # If set, only partners holding one of these permits may take the lead (unless sponsored).
    eligible_permits: list[WorkPermitStatus] = []
    expires_at: UtcDatetime
    url: Annotated[str, Field(max_length=500)] | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now
