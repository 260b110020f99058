from shared.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    # Load the generated sample catalog after migrating, if the catalog is empty (demo, tests).
    sample_catalog: bool = False
    job_leads_per_partner: int = 10
