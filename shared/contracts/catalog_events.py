"""What matching answers to a catalog provider whose record it refused."""

from typing import Annotated, Literal

from pydantic import Field

from .assignment import FieldError, RejectedRecord
from .common import Contract
from .envelope import Envelope, UtcDatetime

# Catalog records do not belong to a firm; their answers carry this in the envelope's firm_id.
CATALOG_FIRM_ID = "catalog-provider"


class CatalogRejectedPayload(Contract):
    catalog: Literal["coach", "job_lead"]
    key: str | None
    errors: Annotated[list[FieldError], Field(min_length=1)]
    record: RejectedRecord
    rejected_at: UtcDatetime


class CatalogRejected(Envelope):
    """Published by matching on the sender's `trailblazer.provider.<provider_id>.catalog.rejected.v1`
    for a catalog record it refused; the previous version of the record, if any, stays in force."""

    event_type: Literal["catalog.rejected"] = "catalog.rejected"
    payload: CatalogRejectedPayload
