"""Are the job leads matching proposes plausibly right for the partner? Measured against labels
taken from the sample generator's ground truth, not from the ranker's own scores.

    uv run --frozen python -m evaluation.lead_relevance [partners]

Three catalog sizes: the demo's 600 leads (where a poor lead used to pad the list), 5,000 and
100,000.

Writes evaluation/results/lead_relevance.{json,md}.

Labels (gain) for a lead and a generated partner. The generator drew the partner's occupation,
skills and true sector from a job; one profile in five names another sector. A lead the partner
may not take scores 0 whatever it is: expired, outside the host country and not remote, a
required language level the partner lacks, a kind none of the partner's goals asks for, or work
rights the partner does not have (a remote job abroad always needs the right to work where the
partner lives: a foreign employer's visa sponsorship does not give it). Otherwise:

- job: 2 in the partner's occupation, 1 in another occupation of the partner's true sector;
- network: 1 in the partner's true sector;
- education: 1 for a course in the true sector, or a course of a language the partner speaks
  below C1;
- volunteering: 1 (it serves the integration goal wherever it is);
- anything else 0.

Measures, over the partners who could be offered at least one relevant lead:
precision@5 (relevant among the first min(5, proposed); a partner offered nothing counts 0),
precision@5 with a fixed denominator of 5 (fewer but good leads lose here), nDCG@10 (gains 2/1,
ideal ordering from every labelled lead), and how many such partners are offered nothing. Over
the partners with no relevant lead at all: how many are offered nothing (the honest answer).
"""

import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from samples.matching_catalog import generate_catalog, taught_language
from samples.matching_partners import SamplePartner, generate_partners
from services.matching import domain
from services.matching.catalog.reference import skill_key, timezone_of
from services.matching.ranking.lead_index import LeadIndex
from shared.contracts import CefrLevel, JobLead, LeadKind

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results"
PROPOSED = 10
CATALOG_SIZES = (600, 5_000, 100_000)


@dataclass
class Labeller:
    """The leads as arrays, to label every lead for one partner at once."""

    leads: list[JobLead]

    def __post_init__(self) -> None:
        leads = self.leads
        self.kind = np.array([lead.kind.value for lead in leads])
        self.sector = np.array([lead.sector.value for lead in leads])
        self.occupation = np.array([lead.occupation for lead in leads])
        self.country = np.array([lead.location.country for lead in leads])
        self.remote = np.array([lead.remote for lead in leads])
        self.open = np.array([not lead.is_expired(NOW) for lead in leads])
        self.rights = np.array([lead.work_rights_required for lead in leads])
        self.sponsored = np.array([lead.visa_sponsorship for lead in leads])
        codes = sorted({r.code for lead in leads for r in lead.required_languages})
        self.codes = {code: i for i, code in enumerate(codes)}
        self.required = np.zeros((len(leads), len(codes)), dtype=np.int8)
        for i, lead in enumerate(leads):
            for r in lead.required_languages:
                self.required[i, self.codes[r.code]] = int(r.level)
        self.teaches = np.array([taught_language(lead) or "" for lead in leads])

    def gains(self, partner: SamplePartner) -> np.ndarray:
        profile, host = partner.profile, partner.host
        levels = np.zeros(len(self.codes), dtype=np.int8)
        spoken = {s.code: int(s.level) for s in profile.languages}
        for code, i in self.codes.items():
            levels[i] = spoken.get(code, 0)
        in_host = self.country == host.country
        may_work = profile.work_permit.may_work
        kinds = [kind.value for kind in domain.wanted_kinds(profile)]
        job = self.kind == LeadKind.JOB.value
        allowed = np.where(~in_host & job, may_work, ~self.rights | may_work | self.sponsored)
        feasible = (
            self.open
            & (in_host | self.remote)
            & allowed
            & (self.required <= levels[None, :]).all(axis=1)
            & np.isin(self.kind, kinds)
        )
        true_sector = partner.true_sector.value
        in_sector = self.sector == true_sector
        fluent = [code for code, level in spoken.items() if level >= CefrLevel.C1]
        below_c1 = (self.teaches != "") & ~np.isin(self.teaches, fluent)
        gain = np.zeros(len(self.leads))
        gain[job & in_sector] = 1
        gain[job & (self.occupation == profile.occupation)] = 2
        gain[(self.kind == LeadKind.NETWORK.value) & in_sector] = 1
        education = self.kind == LeadKind.EDUCATION.value
        gain[education & ((in_sector & (self.teaches == "")) | below_c1)] = 1
        gain[self.kind == LeadKind.VOLUNTEERING.value] = 1
        return np.where(feasible, gain, 0.0)


def dcg(gains: Sequence[float]) -> float:
    return sum((2**g - 1) / math.log2(rank + 2) for rank, g in enumerate(gains))


def evaluate(n_partners: int = 2_000, n_leads: int = 100_000) -> dict[str, Any]:
    catalog = generate_catalog(coaches=200, job_leads=n_leads, today=TODAY)
    partners = generate_partners(n_partners, catalog, seed=23, today=TODAY)
    index = LeadIndex()
    index.upsert_many(catalog.job_leads)
    labeller = Labeller(catalog.job_leads)
    position = {lead.job_lead_id: i for i, lead in enumerate(catalog.job_leads)}
    leads = {lead.job_lead_id: lead for lead in catalog.job_leads}

    p5, p5_fixed, ndcg, offered_none, proposed_total, relevant_total = [], [], [], 0, 0, 0
    honest, without_relevant, zero_skill, skill_asked = 0, 0, 0, 0
    ranking_s = 0.0
    for partner in partners:
        where = domain.Situation(
            host=partner.host,
            now=NOW,
            host_timezone=timezone_of(partner.host),
            rarity=index.rarity,
            related=index.related,
        )
        t = time.perf_counter()
        ranked = [lead_id for lead_id, _ in index.rank(partner.profile, where, limit=PROPOSED)]
        ranking_s += time.perf_counter() - t
        gains = labeller.gains(partner)
        got = [float(gains[position[lead_id]]) for lead_id in ranked]
        proposed_total += len(got)
        relevant_total += sum(g > 0 for g in got)
        yours = {skill_key(s) for s in partner.profile.skills}
        for lead_id in ranked:
            asked = {skill_key(s) for s in leads[lead_id].skills}
            if asked and leads[lead_id].kind is LeadKind.JOB:
                skill_asked += 1
                zero_skill += not (asked & yours)
        if not (gains > 0).any():
            without_relevant += 1
            honest += not ranked
            continue
        top = got[:5]
        p5.append(sum(g > 0 for g in top) / len(top) if top else 0.0)
        p5_fixed.append(sum(g > 0 for g in top) / 5)
        ideal = sorted(gains[gains > 0], reverse=True)[:PROPOSED]
        ndcg.append(dcg(got[:PROPOSED]) / dcg(ideal))
        offered_none += not ranked
    with_relevant = len(p5)
    return {
        "pool": {"partners": n_partners, "job_leads": n_leads, "proposed_per_partner_at_most": PROPOSED},
        "partners_with_a_relevant_lead": with_relevant,
        "precision_at_5": round(float(np.mean(p5)), 4),
        "precision_at_5_fixed_denominator": round(float(np.mean(p5_fixed)), 4),
        "ndcg_at_10": round(float(np.mean(ndcg)), 4),
        "offered_nothing_despite_a_relevant_lead": round(offered_none / max(1, with_relevant), 4),
        "proposed_leads_relevant": round(relevant_total / max(1, proposed_total), 4),
        "proposed_leads_per_partner": round(proposed_total / n_partners, 2),
        "proposed_jobs_sharing_no_skill": round(zero_skill / max(1, skill_asked), 4),
        "partners_without_a_relevant_lead": without_relevant,
        "of_those_offered_nothing": round(honest / max(1, without_relevant), 4),
        "ranking_ms_per_partner": round(1000 * ranking_s / n_partners, 2),
    }


def main(n_partners: int = 2_000) -> dict[str, Any]:
    return {"partners": n_partners, "by_catalog_size": {str(n): evaluate(n_partners, n) for n in CATALOG_SIZES}}


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lead_relevance.json").write_text(json.dumps(result, indent=2) + "\n")
    sizes = result["by_catalog_size"]
    lines = [
        "# Job lead relevance (generated by `python -m evaluation.lead_relevance`)",
        "",
        f"{result['partners']} generated partners, at most {PROPOSED} leads proposed each; labels from the"
        " generator's truth (see the module docstring). Columns: job leads in the catalog.",
        "",
        "| measure | " + " | ".join(sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    first = next(iter(sizes.values()))
    for key in first:
        if key != "pool":
            lines.append(f"| {key} | " + " | ".join(str(size[key]) for size in sizes.values()) + " |")
    (RESULTS / "lead_relevance.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    outcome = main(*[int(a) for a in sys.argv[1:2]])
    write(outcome)
    print((RESULTS / "lead_relevance.md").read_text())
