"""Value types shared by every contract: codes, levels, places, contacts."""

import re
from enum import IntEnum, StrEnum
from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from .reference import ISO_639_1_LANGUAGES, ISO_3166_1_COUNTRIES


class Contract(BaseModel):
    """Base of every contract: values are immutable once parsed.

    What a firm or provider writes (`strict_input = True`) is read strictly: an unknown field is
    refused, so a typo never passes silently. Everything the services write to each other and to
    firms is read tolerantly (unknown fields ignored, see `decoding.decode`), so a producer may add
    an optional field in a new revision while older consumers still run. Our own code builds
    contracts with the forbid below either way: a misspelt keyword fails at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    strict_input: ClassVar[bool] = False


def _known_language(code: str) -> str:
    if code not in ISO_639_1_LANGUAGES:
        raise ValueError(f"'{code}' is not an ISO 639-1 language code")
    return code


def _known_country(code: str) -> str:
    if code not in ISO_3166_1_COUNTRIES:
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 country code")
    return code


LanguageCode = Annotated[
    str, StringConstraints(to_lower=True, min_length=2, max_length=2), AfterValidator(_known_language)
]
CountryCode = Annotated[
    str, StringConstraints(to_upper=True, min_length=2, max_length=2), AfterValidator(_known_country)
]
# Names, cities, titles end up in e-mail headers, subjects and file names: one line, no control
# characters (C0 but NUL, which has its own code, DEL, C1, and the Unicode line/paragraph separators).
_CONTROL = re.compile("[\x01-\x1f\x7f-\x9f\u2028\u2029]")
_SINGLE_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"


def _single_line(text: str) -> str:
    if found := _CONTROL.search(text):
        raise PydanticCustomError(
            "control_character",
            "single-line text must not contain control characters or line breaks (found {char})",
            {"char": f"U+{ord(found.group()):04X}"},
        )
    return text


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_single_line),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200, "pattern": _SINGLE_LINE_PATTERN}),
]
ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=120),
    AfterValidator(_single_line),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 120, "pattern": _SINGLE_LINE_PATTERN}),
]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class CefrLevel(IntEnum):
    """Common European Framework of Reference levels; ordered so that levels compare."""

    A1 = 1
    A2 = 2
    B1 = 3
    B2 = 4
    C1 = 5
    C2 = 6


def _parse_cefr(value: object) -> CefrLevel:
    if isinstance(value, CefrLevel):
        return value
    if isinstance(value, str) and value.upper() in CefrLevel.__members__:
        return CefrLevel[value.upper()]
    raise ValueError("must be a CEFR level: A1, A2, B1, B2, C1 or C2")


# On the wire a level is its name ("B2"); in code it is an ordered IntEnum.
Cefr = Annotated[
    CefrLevel,
    PlainValidator(_parse_cefr),
    PlainSerializer(lambda level: level.name, return_type=str),
    WithJsonSchema({"type": "string", "enum": list(CefrLevel.__members__)}),
]


class LanguageSkill(Contract):
    code: LanguageCode
    level: Cefr


class Location(Contract):
    city: Name
    country: CountryCode


class Sector(StrEnum):
    ENERGY = "energy"
    ENGINEERING = "engineering"
    INFORMATION_TECHNOLOGY = "information_technology"
    FINANCE = "finance"
    HEALTHCARE = "healthcare"
    EDUCATION = "education"
    RESEARCH = "research"
    MARKETING = "marketing"
    SALES = "sales"
    LEGAL = "legal"
    HOSPITALITY = "hospitality"
    LOGISTICS = "logistics"
    CREATIVE = "creative"
    PUBLIC_SECTOR = "public_sector"
    NON_PROFIT = "non_profit"
    OTHER = "other"


class Goal(StrEnum):
    """What the partner wants from the assignment years."""

    EMPLOYMENT = "employment"
    ENTREPRENEURSHIP = "entrepreneurship"
    EDUCATION = "education"
    INTEGRATION = "integration"


class WorkPermitStatus(StrEnum):
    """The partner's right to work in the host country as the firm knows it at request time."""

    HAS_WORK_RIGHTS = "has_work_rights"
    DEPENDENT_PERMIT_WITH_WORK_RIGHTS = "dependent_permit_with_work_rights"
    DEPENDENT_PERMIT_WITHOUT_WORK_RIGHTS = "dependent_permit_without_work_rights"
    APPLICATION_PENDING = "application_pending"
    UNKNOWN = "unknown"

    @property
    def may_work(self) -> bool:
        return self in (WorkPermitStatus.HAS_WORK_RIGHTS, WorkPermitStatus.DEPENDENT_PERMIT_WITH_WORK_RIGHTS)


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    FIRM_PORTAL = "firm_portal"


class Contact(Contract):
    full_name: Name
    email: EmailStr
    preferred_language: LanguageCode = "en"
