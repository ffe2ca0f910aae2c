-- The notification outbox per target (DECISIONS F16, issue 6): one row per event and
-- subscribed target (email1, email2, sms1, sms2, call1, call2), unique on
-- (event_key, target), so an event gives exactly one message per target across
-- restarts and configuration reloads. `kind` and `context` keep what the event was;
-- `skipped` marks a call made unnecessary by an acknowledged call of the same event.

-- migrate:up

ALTER TABLE notification_outbox
    ADD COLUMN target varchar(8),
    ADD COLUMN kind varchar(32),
    ADD COLUMN context jsonb NOT NULL DEFAULT '{}'::jsonb;

UPDATE notification_outbox SET target = channel || '1', kind = 'unknown'
    WHERE target IS NULL;

ALTER TABLE notification_outbox
    ALTER COLUMN target SET NOT NULL,
    ALTER COLUMN kind SET NOT NULL,
    DROP CONSTRAINT notification_outbox_once,
    DROP CONSTRAINT notification_outbox_status_valid,
    ADD CONSTRAINT notification_outbox_once_per_target UNIQUE (event_key, target),
    ADD CONSTRAINT notification_outbox_target_valid CHECK (
        target IN ('email1', 'email2', 'sms1', 'sms2', 'call1', 'call2')
    ),
    ADD CONSTRAINT notification_outbox_target_channel CHECK (
        left(target, length(target) - 1) = channel
    ),
    ADD CONSTRAINT notification_outbox_status_valid CHECK (
        status IN ('pending', 'sent', 'failed', 'skipped')
    );

-- migrate:down

DELETE FROM notification_outbox WHERE status = 'skipped';
ALTER TABLE notification_outbox
    DROP CONSTRAINT notification_outbox_status_valid,
    DROP CONSTRAINT notification_outbox_target_channel,
    DROP CONSTRAINT notification_outbox_target_valid,
    DROP CONSTRAINT notification_outbox_once_per_target,
    ADD CONSTRAINT notification_outbox_status_valid CHECK (
        status IN ('pending', 'sent', 'failed')
    ),
    ADD CONSTRAINT notification_outbox_once UNIQUE (event_key, channel, address),
    DROP COLUMN context,
    DROP COLUMN kind,
    DROP COLUMN target;
