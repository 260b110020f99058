-- The life cycle of a proposal: a firm accepts the proposed coach (then no re-assignment moves
-- it), or closes the assignment (cancelled, consent withdrawn), which frees the coach's place.

-- When the firm said the partner accepted the coach (null while only proposed).
ALTER TABLE coach_reservations ADD COLUMN accepted_at timestamptz;

-- Assignments a firm closed. Kept after the reservation and the open partner are gone, so that a
-- late acceptance is refused as closed and an `assignment.created` that arrives after its
-- cancellation opens nothing.
CREATE TABLE closed_assignments (
    assignment_id uuid PRIMARY KEY,
    firm_id       text        NOT NULL,
    reason        text        NOT NULL CHECK (reason IN ('cancelled', 'consent_withdrawn')),
    closed_at     timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
