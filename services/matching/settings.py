from pydantic import Field

from shared.settings import ServiceSettings, local_database_url

# How much each criterion counts in a score (normalised by their sum). Change them per
# deployment with e.g. TRAILBLAZER_COACH_WEIGHTS='{"language": 0.4, ...}'.
DEFAULT_COACH_WEIGHTS = {
    "language": 0.22,
    "goals": 0.18,
    "sector": 0.16,
    "place": 0.12,
    "timezone": 0.08,
    "load": 0.12,
    "rating": 0.12,
}
DEFAULT_LEAD_WEIGHTS = {
    "skills": 0.35,
    "sector": 0.15,
    "occupation": 0.15,
    "goals": 0.1,
    "language": 0.1,
    "place": 0.15,
}


class MatchingSettings(ServiceSettings):
    database_url: str = Field(default=local_database_url("matching"), repr=False)
    # Load the generated sample catalog after migrating, if the catalog is empty (demo, tests).
    sample_catalog: bool = False
    # The catalog provider the sample catalog belongs to: only it may change those coaches and job
    # leads, on its own topics (the local stack's provider, deploy/local/config.py LOCAL_PROVIDERS).
    sample_catalog_provider: str = "sample-coaching"
    job_leads_per_partner: int = 10
    coach_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_COACH_WEIGHTS))
    lead_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_LEAD_WEIGHTS))
    # A new lead is announced to an open partner only if it would rank among their best this many.
    announce_top: int = 10
    # How often (seconds) open proposals are swept for job leads that expired since they were sent.
    lead_expiry_sweep_s: float = Field(default=60.0, gt=0)
    # Batch fairness: every language group, and within it every host country, is covered at
    # least at this share of the pool's average coverage where its coaches allow (0: off, plain
    # score optimum). See docs/matching.md, "Fairness under scarcity".
    batch_fair_share: float = Field(default=1.0, ge=0, le=1)
