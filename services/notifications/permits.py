"""What an accompanying partner may do on a dependent permit, per host country.

Deliberately short and conservative: a country not listed here is answered with "HR will follow
up", never with a guess. Each entry names the official source to read.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PermitFacts:
    country: str
    may_work_on_dependent_permit: bool
    summary: str
    source: str


PERMIT_FACTS: dict[str, PermitFacts] = {
    facts.country: facts
    for facts in (
        PermitFacts(
            "NO",
            True,
            "A family immigration permit as the partner of a skilled worker gives the right to work in Norway.",
            "https://www.udi.no/en/want-to-apply/family-immigration/",
        ),
        PermitFacts(
            "DE",
            True,
            "A residence permit for family reunification with a skilled worker allows any employment in Germany.",
            "https://www.make-it-in-germany.com/en/visa-residence/",
        ),
        PermitFacts(
            "NL",
            True,
            "Family members of a highly skilled migrant may work in the Netherlands without a separate work permit.",
            "https://ind.nl/en/residence-permits/family",
        ),
        PermitFacts(
            "GB",
            True,
            "Dependant partners of Skilled Worker visa holders may work in most jobs.",
            "https://www.gov.uk/skilled-worker-visa/your-partner-and-children",
        ),
        PermitFacts(
            "US",
            False,
            "Most dependent visas (H-4) do not allow work; some H-4 spouses may apply"
            " for an Employment Authorization Document, and L-2 spouses are authorised to work.",
            "https://www.uscis.gov/working-in-the-united-states",
        ),
    )
}
