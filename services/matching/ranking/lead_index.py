"""Open job leads in memory, one shard per host country plus one for remote leads, each shard
a set of numpy arrays and a sparse skill matrix. Ranking one partner touches only the host's
shard and the remote one; a change marks its shard for a rebuild on the next query.

A lead is held as a compact `LeadRow`, not as its contract: 100k leads fit in tens of MB. The
top leads' full records come from PostgreSQL (or the caller) when their explanations are written.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from shared.contracts import JobLead, LeadKind, PartnerProfile

from ..catalog.reference import occupation_key, skill_key
from ..domain import FLUENT, RELATED_OCCUPATION, RELEVANT_SKILL_SHARE, Situation, languages_taught
from ..ranking.vectors import (
    KINDS,
    LEAD_CRITERIA,
    PERMITS,
    SECTORS,
    Bools,
    Floats,
    Vocabulary,
    goal_kinds,
    weight_vector,
)

REMOTE = "*"


@dataclass(frozen=True, slots=True)
class LeadRow:
    lead_id: str
    shard: str
    expires_at: float
    kind: int
    sector: int
    occupation: int
    city: int
    country: str
    remote: bool
    skills: tuple[int, ...]
    languages: tuple[tuple[int, int], ...]
    permits: int  # bit per eligible WorkPermitStatus; 0 when the lead names none
    work_rights_required: bool
    visa_sponsorship: bool
    teaches: tuple[int, ...]  # languages an education lead teaches


class _Shard:
    def __init__(self, rows: list[LeadRow], n_languages: int, n_skills: int) -> None:
        self.ids = [row.lead_id for row in rows]
        self.expires = np.array([row.expires_at for row in rows])
        self.kind = np.array([row.kind for row in rows], dtype=np.int64)
        self.sector = np.array([row.sector for row in rows], dtype=np.int64)
        self.occupation = np.array([row.occupation for row in rows], dtype=np.int64)
        self.city = np.array([row.city for row in rows], dtype=np.int64)
        self.country = np.array([row.country for row in rows])
        self.remote = np.array([row.remote for row in rows], dtype=bool)
        self.permits = np.array([row.permits for row in rows], dtype=np.int64)
        self.rights = np.array([row.work_rights_required for row in rows], dtype=bool)
        self.sponsored = np.array([row.visa_sponsorship for row in rows], dtype=bool)
        self.required = np.zeros((len(rows), n_languages), dtype=np.int8)
        self.teaches = np.zeros((len(rows), n_languages), dtype=bool)
        for i, row in enumerate(rows):
            for language, level in row.languages:
                self.required[i, language] = level
            for language in row.teaches:
                self.teaches[i, language] = True
        indptr = np.cumsum([0, *(len(row.skills) for row in rows)])
        indices = np.fromiter((s for row in rows for s in row.skills), dtype=np.int64, count=int(indptr[-1]))
        data = np.ones(len(indices), dtype=np.float64)
        self.skills = sparse.csr_matrix((data, indices, indptr), shape=(len(rows), n_skills))


class LeadIndex:
    def __init__(self) -> None:
        self.rows: dict[str, LeadRow] = {}
        self.languages = Vocabulary()
        self.skills = Vocabulary()
        self.occupations = Vocabulary()
        self.cities = Vocabulary()
        self.skill_counts = np.zeros(0, dtype=np.int64)  # open leads asking for each skill key
        # Per occupation: open leads, and how many of them ask for each skill (its skill profile).
        self.occupation_leads: dict[int, int] = {}
        self.occupation_skills: dict[int, dict[int, int]] = {}
        self._profiles: sparse.csr_matrix | None = None  # occupations x skills, rows of unit length
        self._relations: dict[int, Floats] = {}
        self._shards: dict[str, _Shard] = {}
        self._dirty: set[str] = set()

    def __len__(self) -> int:
        return len(self.rows)

    # ---- changes -------------------------------------------------------------------------

    def upsert(self, lead: JobLead) -> None:
        self.remove(lead.job_lead_id)
        row = self._row(lead)
        self.rows[row.lead_id] = row
        self._count(row, +1)
        self._dirty.add(row.shard)

    def upsert_many(self, leads: Iterable[JobLead]) -> None:
        for lead in leads:
            self.upsert(lead)

    def remove(self, lead_id: str) -> None:
        row = self.rows.pop(lead_id, None)
        if row is not None:
            self._count(row, -1)
            self._dirty.add(row.shard)

    def drop_expired(self, now: datetime) -> list[str]:
        moment = now.timestamp()
        expired = [lead_id for lead_id, row in self.rows.items() if row.expires_at <= moment]
        for lead_id in expired:
            self.remove(lead_id)
        return expired

    def _row(self, lead: JobLead) -> LeadRow:
        permits = 0
        for permit in lead.eligible_permits:
            permits |= 1 << PERMITS.index(permit)
        return LeadRow(
            lead_id=lead.job_lead_id,
            shard=REMOTE if lead.remote else lead.location.country,
            expires_at=lead.expires_at.timestamp(),
            kind=KINDS.index(lead.kind),
            sector=SECTORS.index(lead.sector),
            occupation=self.occupations.id(occupation_key(lead.occupation)),
            city=self.cities.id(f"{lead.location.country}:{lead.location.city}"),
            country=lead.location.country,
            remote=lead.remote,
            skills=tuple(sorted({self.skills.id(skill_key(s)) for s in lead.skills})),
            languages=tuple((self.languages.id(r.code), int(r.level)) for r in lead.required_languages),
            permits=permits,
            work_rights_required=lead.work_rights_required,
            visa_sponsorship=lead.visa_sponsorship,
            teaches=tuple(sorted(self.languages.id(code) for code in languages_taught(lead))),
        )

    def _count(self, row: LeadRow, delta: int) -> None:
        if len(self.skill_counts) < len(self.skills):
            grown = np.zeros(max(len(self.skills), 2 * len(self.skill_counts)), dtype=np.int64)
            grown[: len(self.skill_counts)] = self.skill_counts
            self.skill_counts = grown
        for skill in row.skills:
            self.skill_counts[skill] += delta
        self.occupation_leads[row.occupation] = self.occupation_leads.get(row.occupation, 0) + delta
        profile = self.occupation_skills.setdefault(row.occupation, {})
        for skill in row.skills:
            profile[skill] = profile.get(skill, 0) + delta
        self._profiles = None
        self._relations.clear()

    # ---- rarity ----------------------------------------------------------------------------

    def rarity(self, key: str) -> float:
        """log(1 + N / df): a skill few open leads ask for weighs more than a common one."""
        skill = self.skills.ids.get(key)
        count = int(self.skill_counts[skill]) if skill is not None and skill < len(self.skill_counts) else 0
        return math.log1p(max(1, len(self.rows)) / max(1, count))

    def _rarity_vector(self) -> Floats:
        counts = np.maximum(self.skill_counts[: len(self.skills)], 1)
        return np.log1p(max(1, len(self.rows)) / counts)

    # ---- related occupations ----------------------------------------------------------------

    def relations(self, occupation: int) -> Floats:
        """How alike each occupation is to this one: the cosine of their skill profiles (the
        share of their open leads asking for each skill). Same occupation: 1.0."""
        found = self._relations.get(occupation)
        if found is not None:
            return found
        n = len(self.occupations)
        if self._profiles is None or self._profiles.shape[0] < n:
            rows, columns, shares = [], [], []
            for occ, skills in self.occupation_skills.items():
                leads = self.occupation_leads.get(occ, 0)
                for skill, count in skills.items():
                    if leads > 0 and count > 0:
                        rows.append(occ)
                        columns.append(skill)
                        shares.append(count / leads)
            profiles = sparse.csr_matrix((shares, (rows, columns)), shape=(n, len(self.skills)))
            norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
            self._profiles = sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ profiles
        relation = np.zeros(n)
        if 0 <= occupation < n:
            relation = np.round(np.asarray((self._profiles @ self._profiles[occupation].T).todense()).ravel(), 4)
            relation[occupation] = 1.0
        self._relations[occupation] = relation
        return relation

    def related(self, a: str, b: str) -> float:
        """domain.Situation.related for two occupation keys."""
        if a == b:
            return 1.0
        first, second = self.occupations.ids.get(a), self.occupations.ids.get(b)
        if first is None or second is None:
            return 0.0
        return float(self.relations(first)[second])

    # ---- ranking ---------------------------------------------------------------------------

    def _shard(self, name: str) -> _Shard | None:
        if name in self._dirty or name not in self._shards:
            rows = [row for row in self.rows.values() if row.shard == name]
            self._shards[name] = _Shard(rows, len(self.languages), len(self.skills))
            self._dirty.discard(name)
        shard = self._shards[name]
        if shard.required.shape[1] < len(self.languages) or shard.skills.shape[1] < len(self.skills):
            self._dirty.add(name)  # the vocabularies grew since: rebuild with the wider columns
            return self._shard(name)
        return shard if shard.ids else None

    def rank(self, partner: PartnerProfile, situation: Situation, *, limit: int) -> list[tuple[str, float]]:
        """The best `limit` feasible leads as (lead id, score), best first, ties by id."""
        found: list[tuple[str, float]] = []
        rarity = self._rarity_vector()
        for name in (situation.host.country, REMOTE):
            shard = self._shard(name)
            if shard is not None:
                found += self._rank_shard(shard, partner, situation, rarity, limit)
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found[:limit]

    def _rank_shard(
        self, shard: _Shard, partner: PartnerProfile, situation: Situation, rarity: Floats, limit: int
    ) -> list[tuple[str, float]]:
        mask, score = self.scores(shard, partner, situation, rarity)
        candidates = np.flatnonzero(mask)
        if len(candidates) > limit:
            # Keep every lead tied with the limit-th score, so ties resolve by id as domain.py does.
            threshold = np.partition(score[candidates], len(candidates) - limit)[len(candidates) - limit]
            candidates = candidates[score[candidates] >= threshold - 1e-9]
        return [(shard.ids[i], round(float(score[i]), 4)) for i in candidates]

    def scores(
        self, shard: _Shard, partner: PartnerProfile, situation: Situation, rarity: Floats
    ) -> tuple[Bools, Floats]:
        host = situation.host
        levels = np.zeros(shard.required.shape[1])
        for spoken in partner.languages:
            language = self.languages.ids.get(spoken.code)
            if language is not None:
                levels[language] = int(spoken.level)
        wanted, primary = goal_kinds(partner)
        permit_bit = 1 << PERMITS.index(partner.work_permit)
        permit_ok = shard.sponsored | np.where(
            shard.permits != 0, (shard.permits & permit_bit) != 0, ~shard.rights | partner.work_permit.may_work
        )
        # domain.permit_allows: a remote job abroad needs the right to work where the partner lives.
        abroad_job = (shard.country != host.country) & (shard.kind == KINDS.index(LeadKind.JOB))
        permit_ok = np.where(abroad_job, partner.work_permit.may_work, permit_ok)
        required = shard.required.astype(np.float64)
        mask = (
            (shard.expires > situation.now.timestamp())
            & (shard.remote | (shard.country == host.country))
            & permit_ok
            & (required <= levels[None, :]).all(axis=1)
            & wanted[shard.kind]
        )
        yours = np.zeros(shard.skills.shape[1])
        for key in {skill_key(s) for s in partner.skills}:
            skill = self.skills.ids.get(key)
            if skill is not None:
                yours[skill] = 1.0
        weights = rarity[: shard.skills.shape[1]]
        asked = shard.skills @ weights
        matched = shard.skills @ (weights * yours)
        margin = np.where(required > 0, levels[None, :] - required, 99.0).min(axis=1, initial=99.0)
        city = self.cities.ids.get(f"{host.country}:{host.city}", -1)
        occupation = self.occupations.ids.get(occupation_key(partner.occupation), -1)
        skill_share = np.where(asked > 0, matched / np.where(asked > 0, asked, 1.0), 0.5)
        # domain.lead_is_relevant, for the whole shard.
        related = (
            self.relations(occupation)[shard.occupation] >= RELATED_OCCUPATION
            if occupation >= 0
            else np.zeros(len(shard.ids), dtype=bool)
        )
        by_skills = (shard.skills @ yours > 0) & (np.round(skill_share, 4) >= RELEVANT_SKILL_SHARE)
        learning = (shard.teaches & (levels < FLUENT)[None, :]).any(axis=1)
        other_kind = shard.kind != KINDS.index(LeadKind.JOB)
        relevant = (
            (shard.kind == KINDS.index(LeadKind.VOLUNTEERING))
            | related
            | by_skills
            | (other_kind & ((shard.sector == SECTORS.index(partner.sector)) | learning))
        )
        mask &= relevant
        criteria = np.stack(
            [
                skill_share,
                (shard.sector == SECTORS.index(partner.sector)).astype(float),
                (shard.occupation == occupation).astype(float),
                np.where(primary[shard.kind], 1.0, 0.5),
                np.where(margin >= 1, 1.0, 0.7),
                np.where(shard.city == city, 1.0, np.where(shard.remote, 0.8, 0.7)),
            ],
            axis=1,
        )
        # Each criterion rounded as domain.py's explanation shows it, so both rank ties alike.
        return mask, np.round(criteria, 4) @ weight_vector(situation.lead_weights, LEAD_CRITERIA)
