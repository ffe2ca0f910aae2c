-- Why a disarm row was written by a restart clean-up rather than by a person: on
-- start the alarm closes an arm row that has no disarm but that its durable state
-- does not hold as open (issue: stale open arms), with the same reasons as stale
-- alerts (`not_in_durable_state` / `state_unreadable`). NULL = a real disarm.

-- migrate:up

ALTER TABLE disarm ADD COLUMN reason varchar(32);

-- migrate:down

ALTER TABLE disarm DROP COLUMN reason;
