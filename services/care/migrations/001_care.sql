-- care's own database: what it knows of each assignment, its durable deadlines, the pulses,
-- sessions and outcomes behind the scorecards, the escalations, and the duty-of-care record.

CREATE TABLE care_assignments (
    assignment_id uuid PRIMARY KEY,
    firm_id text NOT NULL,
    correlation_id text NOT NULL,
    host_country text NOT NULL,
    start_date date NOT NULL,
    work_permit text NOT NULL,
    -- The case owner escalations go to: the firm's configured owner, else HR's contact.
    owner_name text NOT NULL,
    owner_email text NOT NULL,
    accepted_at timestamptz NOT NULL,
    coach_id text,
    proposed_at timestamptz,
    coach_accepted_at timestamptz,
    first_session_at timestamptz,
    sessions integer NOT NULL DEFAULT 0,
    stopped text,  -- cancelled | consent_withdrawn
    stopped_at timestamptz
);

-- A stop that arrived before the assignment did (another topic, another partition).
CREATE TABLE care_early_stops (
    assignment_id uuid PRIMARY KEY,
    firm_id text NOT NULL,
    reason text NOT NULL,
    stopped_at timestamptz NOT NULL
);

-- The latest coach proposed before the assignment was read (match.proposed overtook it).
CREATE TABLE care_early_coaches (
    assignment_id uuid PRIMARY KEY,
    coach_id text
);

-- Which provider a coach belongs to: from the provider's own catalog topic.
CREATE TABLE care_coaches (
    coach_id text PRIMARY KEY,
    provider_id text NOT NULL
);

-- Durable timers. The timer worker claims due rows with FOR UPDATE SKIP LOCKED and moves them to
-- 'fired' in the transaction that writes their outbox rows: one replica fires each, once.
CREATE TABLE care_deadlines (
    deadline_id uuid PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES care_assignments,
    kind text NOT NULL,
    due_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'pending',  -- pending | fired | met | cancelled
    settled_at timestamptz,
    -- The trace the deadline was set in, so that what it fires joins the assignment's trace.
    trace_headers jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (assignment_id, kind)
);
CREATE INDEX care_deadlines_due ON care_deadlines (due_at) WHERE state = 'pending';

CREATE TABLE care_pulses (
    pulse_id uuid PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES care_assignments,
    check_in_id uuid UNIQUE,
    score integer NOT NULL CHECK (score BETWEEN 1 AND 10),
    comment text NOT NULL DEFAULT '',
    source text NOT NULL,  -- firm | link
    coach_id text,
    given_at timestamptz NOT NULL
);

CREATE TABLE care_sessions (
    event_id text PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES care_assignments,
    coach_id text NOT NULL,
    held_at timestamptz NOT NULL
);

CREATE TABLE care_outcomes (
    assignment_id uuid NOT NULL REFERENCES care_assignments,
    outcome text NOT NULL,
    coach_id text,
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (assignment_id, outcome)
);

CREATE TABLE care_escalations (
    escalation_id uuid PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES care_assignments,
    rule text NOT NULL,
    level integer NOT NULL,
    coach_id text,
    deadline_id uuid UNIQUE REFERENCES care_deadlines,
    raised_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'open',  -- open | closed | cancelled
    closed_at timestamptz,
    resolution text
);

-- The duty-of-care record: every check-in, pulse, escalation and its resolution, in order.
CREATE TABLE care_record (
    position bigserial PRIMARY KEY,
    entry_id uuid NOT NULL UNIQUE,
    assignment_id uuid NOT NULL,
    firm_id text NOT NULL,
    duty text NOT NULL,
    kind text NOT NULL,
    subject_id text,
    detail jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL,
    trace_id text
);
CREATE INDEX care_record_assignment ON care_record (assignment_id, position);

-- The test clock (TRAILBLAZER_CARE_CLOCK=database): the wall clock plus this offset.
CREATE TABLE care_clock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    offset_s double precision NOT NULL DEFAULT 0
);
INSERT INTO care_clock DEFAULT VALUES;
