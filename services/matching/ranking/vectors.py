"""The matching rules of domain.py, computed with numpy over whole catalogs: what makes ranking
100k leads or 5k coaches for one partner a matter of milliseconds. Tests hold every score and
every feasibility decision here equal to domain.py's, which also writes the explanations."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from shared.contracts import CefrLevel, Coach, Goal, LeadKind, Location, PartnerProfile, Sector, WorkPermitStatus

from ..domain import (
    AVAILABILITY_GRACE,
    COACH_USABLE_LEVEL,
    LEAD_KINDS_FOR_GOAL,
    PARTNER_USABLE_LEVEL,
    REMOTE_PLACE_SCORE,
    Situation,
    meets_in_person,
)

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

SECTORS = list(Sector)
GOALS = list(Goal)
KINDS = list(LeadKind)
PERMITS = list(WorkPermitStatus)
# Coach criteria in the order of domain.score_coach.
COACH_CRITERIA = ("language", "goals", "sector", "place", "timezone", "load", "rating")
LEAD_CRITERIA = ("skills", "sector", "occupation", "goals", "language", "place")


class Vocabulary:
    """Stable small integers for strings (language codes, skill keys, cities)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def id(self, value: str) -> int:
        found = self.ids.get(value)
        if found is None:
            found = self.ids[value] = len(self.ids)
        return found

    def __len__(self) -> int:
        return len(self.ids)


def weight_vector(weights: Mapping[str, float], names: Sequence[str]) -> Floats:
    values = np.array([float(weights.get(name, 0.0)) for name in names])
    return values / (values.sum() or 1.0)


def partner_levels(partner: PartnerProfile, languages: Vocabulary, *, usable_only: bool) -> Floats:
    levels = np.zeros(len(languages))
    for skill in partner.languages:
        code = languages.ids.get(skill.code)
        if code is not None and (not usable_only or skill.level >= PARTNER_USABLE_LEVEL):
            levels[code] = int(skill.level)
    return levels


@dataclass(frozen=True)
class Eligibility:
    """Partner × coach: feasible apart from capacity, and the best shared CEFR level (0: none)."""

    mask: Bools
    best: Floats


@dataclass
class CoachMatrix:
    """The coach catalog as arrays, one row per coach, built from a list of coaches."""

    coaches: list[Coach]
    languages: Vocabulary
    levels: Floats  # coach × language: CEFR level, 0 if not spoken
    sectors: Bools  # coach × sector
    specialties: Bools  # coach × goal
    remote: Bools
    active: Bools
    capacity: Ints
    rating: Floats
    available_from: Ints  # proleptic ordinal, 0 if always
    zone: Ints
    zones: list[str]
    # Per host zone and hour, and per host: a batch asks thousands of times.
    _gaps: dict[tuple[str, datetime], Floats] = field(default_factory=dict)
    _in_person: dict[Location, Bools] = field(default_factory=dict)

    @classmethod
    def build(cls, coaches: Iterable[Coach]) -> "CoachMatrix":
        coaches = list(coaches)
        languages = Vocabulary()
        for coach in coaches:
            for skill in coach.languages:
                languages.id(skill.code)
        n = len(coaches)
        levels = np.zeros((n, len(languages)))
        sectors = np.zeros((n, len(SECTORS)), dtype=bool)
        specialties = np.zeros((n, len(GOALS)), dtype=bool)
        zones = Vocabulary()
        for row, coach in enumerate(coaches):
            for skill in coach.languages:
                levels[row, languages.id(skill.code)] = int(skill.level)
            for sector in coach.sectors:
                sectors[row, SECTORS.index(sector)] = True
            for goal in coach.specialties:
                specialties[row, GOALS.index(goal)] = True
        return cls(
            coaches=coaches,
            languages=languages,
            levels=levels,
            sectors=sectors,
            specialties=specialties,
            remote=np.array([c.remote for c in coaches], dtype=bool),
            active=np.array([c.active for c in coaches], dtype=bool),
            capacity=np.array([c.capacity for c in coaches], dtype=np.int64),
            rating=np.array([c.rating for c in coaches]),
            available_from=np.array(
                [c.available_from.toordinal() if c.available_from else 0 for c in coaches], dtype=np.int64
            ),
            zone=np.array([zones.id(c.timezone) for c in coaches], dtype=np.int64),
            zones=list(zones.ids),
        )

    def in_person(self, host: Location) -> Bools:
        cached = self._in_person.get(host)
        if cached is None:
            cached = self._in_person[host] = np.array([meets_in_person(c, host) for c in self.coaches], dtype=bool)
        return cached

    def eligible(self, partners: Sequence[PartnerProfile], arrivals: Sequence[date], where: Situation) -> Eligibility:
        """Who of the coaches could take each partner (arriving on `arrivals`) at `where`, apart
        from capacity."""
        usable = (self.levels >= int(COACH_USABLE_LEVEL)).astype(float)
        spoken = np.stack([partner_levels(p, self.languages, usable_only=True) for p in partners])
        best = np.zeros((len(partners), len(self.coaches)))
        # Highest level first: a pair's best shared level is the first level at which they share one.
        for level in range(int(CefrLevel.C2), int(PARTNER_USABLE_LEVEL) - 1, -1):
            shares = ((spoken >= level).astype(float) @ usable.T) > 0
            best = np.where((best == 0) & shares, float(level), best)
        latest = np.array([(arrival + AVAILABILITY_GRACE).toordinal() for arrival in arrivals], dtype=np.int64)
        serves = self.active & (self.remote | self.in_person(where.host))
        mask = serves[None, :] & (best > 0) & (self.available_from[None, :] <= latest[:, None])
        return Eligibility(mask, best)

    def scores(self, partner: PartnerProfile, situation: Situation, load: Ints) -> tuple[Bools, Floats]:
        """(feasible, score) for every coach, given each coach's current number of partners."""
        mask, score = self.pool_scores([partner], [situation.arrival], situation, load)
        return mask[0], score[0]

    def ranked(
        self, partner: PartnerProfile, situation: Situation, load: Ints, eligibility: Eligibility | None = None
    ) -> Ints:
        """Feasible coaches, best first; equal scores in row order (the cache builds the matrix
        sorted by coach id, so ties go to the lower id). `eligibility`: the partner's, if the
        caller has it already."""
        mask, score = self.pool_scores([partner], [situation.arrival], situation, load, eligibility)
        feasible = np.flatnonzero(mask[0])
        return feasible[np.argsort(-np.round(score[0][feasible], 4), kind="stable")]

    def pool_scores(
        self,
        partners: Sequence[PartnerProfile],
        arrivals: Sequence[date],
        where: Situation,
        load: Ints,
        eligibility: Eligibility | None = None,
    ) -> tuple[Bools, Floats]:
        """(feasible, score) as partner × coach matrices for partners matched at one place: the host,
        clock hour and weights of `where` (`same_place` groups a pool by them); only their arrival
        dates differ. A batch scores a whole place at once."""
        eligibility = eligibility or self.eligible(partners, arrivals, where)
        mask = eligibility.mask & (load < self.capacity)[None, :]
        in_person = self.in_person(where.host)
        gap = self._hours_apart(where)
        timezone = np.where(in_person | (gap < 0), 1.0, np.maximum(0.0, 1.0 - np.abs(gap) / 12.0))
        capacity = np.maximum(self.capacity, 1)
        weight = dict(zip(COACH_CRITERIA, weight_vector(where.coach_weights, COACH_CRITERIA), strict=True))
        # Each criterion rounded as domain.py's explanation shows it, so both rank ties alike.
        per_coach = (
            weight["place"] * np.where(in_person, 1.0, REMOTE_PLACE_SCORE)
            + weight["timezone"] * np.round(timezone, 4)
            + weight["load"] * np.round((capacity - load) / capacity, 4)
            + weight["rating"] * np.round(self.rating / 5.0, 4)
        )
        sectors = [SECTORS.index(p.sector) for p in partners]
        score = (
            weight["language"] * np.round(eligibility.best / 6.0, 4)
            + weight["goals"] * np.round(_goal_shares(partners) @ self.specialties.T.astype(float), 4)
            + weight["sector"] * self.sectors[:, sectors].T
            + per_coach[None, :]
        )
        return mask, score

    def _hours_apart(self, situation: Situation) -> Floats:
        """Hours from each coach's zone to the host's; -1 where the host's zone is unknown."""
        if situation.host_timezone is None:
            return np.full(len(self.coaches), -1.0)
        key = (situation.host_timezone, situation.now.replace(minute=0, second=0, microsecond=0))
        cached = self._gaps.get(key)
        if cached is None:
            host = _offset_hours(situation.host_timezone, situation.now)
            per_zone = np.array([abs(_offset_hours(zone, situation.now) - host) for zone in self.zones] or [0.0])
            cached = self._gaps[key] = per_zone[self.zone]
        return cached


def same_place(situation: Situation) -> tuple[object, ...]:
    """What partners scored together in `pool_scores` share."""
    weights = tuple(sorted(situation.coach_weights.items()))
    return (situation.host, situation.host_timezone, situation.now.replace(minute=0, second=0, microsecond=0), weights)


def _goal_shares(partners: Sequence[PartnerProfile]) -> Floats:
    """Partner × goal: 1/n for each of the partner's n distinct goals."""
    shares = np.zeros((len(partners), len(GOALS)))
    for row, partner in enumerate(partners):
        goals = set(partner.goals)
        for goal in goals:
            shares[row, GOALS.index(goal)] = 1.0 / len(goals)
    return shares


def _offset_hours(zone: str, at: datetime) -> float:
    offset = at.astimezone(ZoneInfo(zone)).utcoffset()
    assert offset is not None
    return offset.total_seconds() / 3600


def goal_kinds(partner: PartnerProfile) -> tuple[Bools, Bools]:
    """(wanted, primary): lead kinds any goal asks for, and those the first goal asks for."""
    wanted = np.zeros(len(KINDS), dtype=bool)
    for goal in partner.goals:
        for kind in LEAD_KINDS_FOR_GOAL[goal]:
            wanted[KINDS.index(kind)] = True
    primary = np.array([kind in LEAD_KINDS_FOR_GOAL[partner.goals[0]] for kind in KINDS], dtype=bool)
    return wanted, primary
