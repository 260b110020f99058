"""Catalogues of texts per language, with English as the key-by-key fallback, and locale-aware
formatting from CLDR (babel): dates and times, numbers, percentages, lists, language names and
country names. CLDR has the names but not the grammar around them ("en Allemagne", "au Japon",
"in der Schweiz", "in the Netherlands"): `_IN_COUNTRY` holds only those exceptions, per language."""

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent

LOCALES_DIR = Path(__file__).parent / "locales"
FALLBACK = "en"
# Norwegian arrives as `no` (macro language), `nb` or `nn`; we write Bokmål for all three.
_ALIASES = {"no": "nb", "nn": "nb"}

# "in <country>" where CLDR's name needs an article or another preposition. Every other country
# takes the language's plain pattern (`in {}`, `en {}`, `i {}`); French is by rule, see `_in_fr`.
_IN_COUNTRY: dict[str, dict[str, str]] = {
    "en": {
        code: "in the {}"
        for code in ("NL", "US", "GB", "AE", "PH", "BS", "GM", "MV", "MH", "SB", "CF", "DO", "KY", "FO", "VA", "KM")
    },
    "de": {
        **{code: "in der {}" for code in ("CH", "TR", "SK", "UA", "MN", "DO", "CF", "VA")},
        **{code: "im {}" for code in ("IQ", "IR", "JE", "LB", "SD", "SS", "NE", "YE", "KW", "VA", "TD", "OM")},
        "NL": "in den Niederlanden",
        "US": "in den Vereinigten Staaten",
        "AE": "in den Vereinigten Arabischen Emiraten",
        "GB": "im Vereinigten Königreich",
        "PH": "auf den Philippinen",
        "BS": "auf den Bahamas",
        "MV": "auf den Malediven",
        "SC": "auf den Seychellen",
    },
    "es": {
        "NL": "en los Países Bajos",
        "GB": "en el Reino Unido",
        "AE": "en los Emiratos Árabes Unidos",
        "US": "en los Estados Unidos",
    },
    "fr": {
        # islands and city states without article, and masculine names ending in -e
        **{
            code: "à {}"
            for code in ("SG", "CU", "MT", "CY", "MG", "MU", "MC", "BH", "HK", "TW", "JM", "HT", "IS", "MO")
        },
        **{code: "au {}" for code in ("MX", "KH", "MZ", "ZW", "BZ", "SV")},
        **{code: "aux {}" for code in ("US", "NL", "AE", "PH", "SC", "MV", "KM", "BS")},
    },
}
_PLAIN_IN = {"en": "in {}", "de": "in {}", "es": "en {}", "nb": "i {}", "fr": "en {}"}


def _in_fr(name: str) -> str:
    """French: `en` before feminine names (most end in -e) and any vowel; `au` otherwise."""
    if name[0].lower() in "aeiouyéèêâîôûh" or name.endswith("e"):
        return f"en {name}"
    return f"au {name}"


@cache
def _catalogue(language: str) -> dict[str, dict[str, str]]:
    path = LOCALES_DIR / f"{language}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        data: dict[str, dict[str, str]] = tomllib.load(handle)
    return data


def supported() -> list[str]:
    return sorted(_supported())


@cache
def _supported() -> frozenset[str]:
    # Read once: `resolve` runs for every message, and the catalogues ship with the code.
    return frozenset(path.stem for path in LOCALES_DIR.glob("*.toml"))


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def alias(preferred: str) -> str:
    return _ALIASES.get(preferred, preferred)


def resolve(preferred: str) -> str:
    """The language we write in: the preferred one if we have it, otherwise English."""
    language = alias(preferred)
    return language if language in _supported() else FALLBACK


@dataclass(frozen=True)
class Texts:
    language: str
    section: str

    def __call__(self, key: str, **values: object) -> str:
        template = _catalogue(self.language).get(self.section, {}).get(key)
        if template is None:
            template = _catalogue(FALLBACK)[self.section][key]
        return template.format(**values)

    def has(self, key: str) -> bool:
        return key in _catalogue(FALLBACK).get(self.section, {})

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    def country(self, code: str) -> str:
        return str(self.locale.territories.get(code, code))

    def in_country(self, code: str) -> str:
        """ "in Norway", "in the Netherlands", "en Allemagne", "au Japon", "in der Schweiz"."""
        name = self.country(code)
        pattern = _IN_COUNTRY.get(self.language, {}).get(code)
        if pattern is not None:
            return pattern.format(name)
        if self.language == "fr":
            return _in_fr(name)
        return _PLAIN_IN.get(self.language, "in {}").format(name)

    def language_name(self, code: str) -> str:
        return str(self.locale.languages.get(alias(code), self.locale.languages.get(code, code)))

    def day(self, value: date) -> str:
        return format_date(value, format="long", locale=self.locale)

    def moment(self, value: datetime) -> str:
        """A date and time as people write it here, in UTC and saying so."""
        return format_datetime(value.astimezone(UTC), format="long", tzinfo=UTC, locale=self.locale)

    def percent(self, share: float) -> str:
        return format_percent(share, locale=self.locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def join(self, items: Sequence[str]) -> str:
        return format_list(list(items), locale=self.locale) if items else ""


def texts(preferred: str, section: str) -> Texts:
    return Texts(resolve(preferred), section)
