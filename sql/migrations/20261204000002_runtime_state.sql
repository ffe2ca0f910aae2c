-- Durable runtime state (ARCHITECTURE "State that must survive", DECISIONS F1, F8,
-- F11, F16): what a kill -9 or a power cut must not lose. Wall-clock deadlines are
-- timestamptz so that a restart resumes timers at their original deadlines.

-- migrate:up

CREATE TYPE monitoring_states AS ENUM (
    'monitoring_startup',
    'monitoring_updating_config',
    'monitoring_invalid_config',
    'monitoring_ready',
    'monitoring_arm_delay',
    'monitoring_armed',
    'monitoring_alert_delay',
    'monitoring_alert',
    'monitoring_sabotage',
    'monitoring_error',
    'monitoring_stopped'
);

-- Exactly one row. exit_deadline: end of the running exit delay, else NULL.
-- siren_started_at: when the siren sounds or will sound (after its delay), NULL when
-- off; siren_until: its cut-off, NULL with siren_started_at set = until disarm.
CREATE TABLE runtime_state (
    id boolean PRIMARY KEY DEFAULT true,
    monitoring_state monitoring_states NOT NULL DEFAULT 'monitoring_startup',
    exit_deadline timestamptz,
    siren_started_at timestamptz,
    siren_until timestamptz,
    power_source varchar(8),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runtime_state_single_row CHECK (id),
    CONSTRAINT runtime_state_power_source_valid CHECK (
        power_source IN ('network', 'battery')
    ),
    CONSTRAINT runtime_state_siren_until_needs_start CHECK (
        siren_until IS NULL OR siren_started_at IS NOT NULL
    )
);
INSERT INTO runtime_state DEFAULT VALUES;

-- Running entry delays, one per sensor that started one.
CREATE TABLE entry_delay (
    sensor_id integer PRIMARY KEY REFERENCES sensor (id),
    started_at timestamptz NOT NULL,
    deadline timestamptz NOT NULL,
    CONSTRAINT entry_delay_deadline_after_start CHECK (deadline >= started_at)
);

-- Sensors bypassed by a forced arming (F11); emptied at the next disarm.
CREATE TABLE arm_bypass (
    sensor_id integer PRIMARY KEY REFERENCES sensor (id),
    arm_id integer REFERENCES arm (id),
    bypassed_at timestamptz NOT NULL DEFAULT now()
);

-- Notifications are stored before they are sent (F16). event_key names the event
-- (e.g. "alert_started:42"); with channel and address it makes a send exactly-once.
CREATE TABLE notification_outbox (
    id bigserial PRIMARY KEY,
    event_key text NOT NULL,
    channel varchar(8) NOT NULL,
    address text NOT NULL,
    subject text,
    body text NOT NULL,
    status varchar(8) NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    CONSTRAINT notification_outbox_once UNIQUE (event_key, channel, address),
    CONSTRAINT notification_outbox_channel_valid CHECK (channel IN ('email', 'sms', 'call')),
    CONSTRAINT notification_outbox_status_valid CHECK (
        status IN ('pending', 'sent', 'failed')
    ),
    CONSTRAINT notification_outbox_attempts_not_negative CHECK (attempts >= 0)
);
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at)
    WHERE status = 'pending';

-- Wrong-code throttling (F8) per source address, user, keypad or phone line, so a
-- restart does not lift a lockout.
CREATE TABLE auth_throttle (
    scope varchar(8) NOT NULL,
    subject text NOT NULL,
    failures integer NOT NULL DEFAULT 0,
    first_failure_at timestamptz,
    last_failure_at timestamptz,
    locked_until timestamptz,
    PRIMARY KEY (scope, subject),
    CONSTRAINT auth_throttle_scope_valid CHECK (
        scope IN ('source', 'user', 'keypad', 'phone')
    ),
    CONSTRAINT auth_throttle_failures_not_negative CHECK (failures >= 0)
);

-- Batches committed by the storage actor, so that a commit whose answer was lost with
-- the connection is not applied twice. Old rows are pruned by the storage actor.
CREATE TABLE storage_commit (
    batch_id uuid PRIMARY KEY,
    committed_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:down

DROP TABLE storage_commit;
DROP TABLE auth_throttle;
DROP TABLE notification_outbox;
DROP TABLE arm_bypass;
DROP TABLE entry_delay;
DROP TABLE runtime_state;
DROP TYPE monitoring_states;
