"""The catalog matching ranks from: career coaches and job leads in host locations."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import EmailStr, Field

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
)
from .envelope import UtcDatetime


class Coach(Contract):
    coach_id: Identifier
    display_name: Name
    contact_email: EmailStr
    languages: Annotated[list[LanguageSkill], Field(min_length=1)]
    sectors: list[Sector]
    specialties: Annotated[list[Goal], Field(min_length=1)]
    cities: list[Location] = []
    countries: list[CountryCode] = []
    remote: bool
    timezone: ShortText
    capacity: Annotated[int, Field(ge=0, le=200)]
    rating: Annotated[float, Field(ge=0, le=5)]
    active: bool = True


class LeadKind(StrEnum):
    """Not every partner seeks a job: networks and education count as leads too."""

    JOB = "job"
    NETWORK = "network"
    EDUCATION = "education"
    VOLUNTEERING = "volunteering"


class JobLead(Contract):
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
    expires_at: UtcDatetime
    url: Annotated[str, Field(max_length=500)] | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now
