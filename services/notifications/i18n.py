"""Catalogues of texts per language, with English as the key-by-key fallback, and locale-aware
formatting of dates, numbers and country names (babel)."""

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_percent

LOCALES_DIR = Path(__file__).parent / "locales"
FALLBACK = "en"
# Norwegian arrives as `no` (macro language), `nb` or `nn`; we write Bokmål for all three.
_ALIASES = {"no": "nb", "nn": "nb"}


@cache
def _catalogue(language: str) -> dict[str, dict[str, str]]:
    path = LOCALES_DIR / f"{language}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        data: dict[str, dict[str, str]] = tomllib.load(handle)
    return data


def supported() -> list[str]:
    return sorted(path.stem for path in LOCALES_DIR.glob("*.toml"))


def resolve(preferred: str) -> str:
    """The language we write in: the preferred one if we have it, otherwise English."""
    language = _ALIASES.get(preferred, preferred)
    return language if language in supported() else FALLBACK


@dataclass(frozen=True)
class Texts:
    language: str
    section: str

    def __call__(self, key: str, **values: object) -> str:
        template = _catalogue(self.language).get(self.section, {}).get(key)
        if template is None:
            template = _catalogue(FALLBACK)[self.section][key]
        return template.format(**values)

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.language)

    def country(self, code: str) -> str:
        return str(self.locale.territories.get(code, code))

    def day(self, value: date) -> str:
        return format_date(value, format="long", locale=self.locale)

    def percent(self, share: float) -> str:
        return format_percent(share, locale=self.locale)


def texts(preferred: str, section: str) -> Texts:
    return Texts(resolve(preferred), section)
