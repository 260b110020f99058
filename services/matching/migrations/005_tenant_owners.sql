-- Catalog providers and firms have their own topics (issue 9, docs/tenancy.md).

-- Which provider owns each coach and job lead: the provider whose topics first carried it. Only
-- that provider may change or remove it. A record from before providers had topics of their own
-- has no row here: the first provider to write it claims it.
CREATE TABLE catalog_owners (
    catalog     text        NOT NULL CHECK (catalog IN ('coach', 'job_lead')),
    record_id   text        NOT NULL,
    provider_id text        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (catalog, record_id)
);

-- The firm whose assignment was proposed: the only firm that may accept or close it, also once it
-- is no longer open (no consent to matching, accepted). Null for proposals from before.
ALTER TABLE proposals ADD COLUMN firm_id text;

-- A firm's close of an assignment matching does not know yet (its cancellation overtook the
-- creation) is kept per firm: when the assignment arrives, only its own firm's close counts and
-- any other firm's is dropped, so no firm can close another's assignment in advance.
ALTER TABLE closed_assignments DROP CONSTRAINT closed_assignments_pkey;
ALTER TABLE closed_assignments ADD PRIMARY KEY (assignment_id, firm_id);
