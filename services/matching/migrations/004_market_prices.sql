-- What a batch run teaches the online path (assignment/prices.py): the dual price of each
-- coach's places and the boost of each (language, host country) group in its fair optimum, and
-- the coverage the places allowed. Online averages the latest runs.
CREATE TABLE price_runs (
    run_id      bigserial PRIMARY KEY,
    computed_at timestamptz      NOT NULL DEFAULT now(),
    -- partners served / partners with a feasible coach, in the batch's plain optimum
    coverage    double precision NOT NULL CHECK (coverage BETWEEN 0 AND 1)
);

CREATE TABLE coach_prices (
    run_id   bigint           NOT NULL REFERENCES price_runs (run_id) ON DELETE CASCADE,
    coach_id text             NOT NULL,
    price    double precision NOT NULL,
    PRIMARY KEY (run_id, coach_id)
);

CREATE TABLE group_boosts (
    run_id     bigint           NOT NULL REFERENCES price_runs (run_id) ON DELETE CASCADE,
    group_name text             NOT NULL,  -- e.g. 'ru/DE': strongest language / host country
    boost      double precision NOT NULL,
    PRIMARY KEY (run_id, group_name)
);

-- Fair as it goes: per language group and per host country ('language:ru', 'country:DE'), how
-- much easier (> 0) or harder (< 0) a place is to earn than the prices say, moved by every
-- online decision and reset by each batch run.
CREATE TABLE fairness_balances (
    balance_key text             PRIMARY KEY,
    balance     double precision NOT NULL DEFAULT 0
);
