"""Host-country facts as reviewed data (`host_countries.toml`), validated on load.

A country that is missing, or whose rule we could not verify, is never guessed: the partner is told
that HR will follow up and HR gets a task (see `domain`).
"""

import tomllib
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.reference import ISO_3166_1_COUNTRIES

DATA_FILE = Path(__file__).parent / "host_countries.toml"

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=600)]


class PartnerMayWork(StrEnum):
    YES = "yes"
    WITH_PERMIT = "with_permit"
    NO = "no"
    UNVERIFIED = "unverified"


class Verification(StrEnum):
    OFFICIAL = "official"
    SECONDARY = "secondary"
    UNVERIFIED = "unverified"


class HostCountry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partner_may_work: PartnerMayWork
    summary: Annotated[Text, Field(min_length=20)]
    apply_for: Text
    processing_time: Text
    source: AnyHttpUrl
    evidence: Annotated[list[AnyHttpUrl], Field(min_length=1)]
    verification: Verification
    note: Text
    last_reviewed: date

    @property
    def confirmed(self) -> bool:
        """Facts we may state to a partner as the rule; anything else goes through HR."""
        return (
            self.partner_may_work is not PartnerMayWork.UNVERIFIED and self.verification is not Verification.UNVERIFIED
        )


class HostCountryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    countries: dict[str, HostCountry]

    def model_post_init(self, _context: object) -> None:
        unknown = sorted(code for code in self.countries if code not in ISO_3166_1_COUNTRIES)
        if unknown:
            raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(unknown)}")


def load(path: Path = DATA_FILE) -> HostCountryFile:
    with path.open("rb") as handle:
        return HostCountryFile.model_validate(tomllib.load(handle))


@cache
def reviewed() -> dict[str, HostCountry]:
    return dict(load().countries)


def lookup(country: str) -> HostCountry | None:
    return reviewed().get(country)
