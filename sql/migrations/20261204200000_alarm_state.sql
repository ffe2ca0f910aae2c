-- The alarm's durable runtime state as one document (arpi.alarm.durable.DurableState,
-- replaced by every PersistState in the same transaction as its history rows), and
-- the reason a stale alert was closed on restore (issue 3: "stale records are closed
-- with a reason"). alert_sensor.kind keeps why a sensor joined (intrusion, sabotage,
-- tamper). arm_sensor.bypassed (F11) is already in the base schema.

-- migrate:up

ALTER TABLE runtime_state ADD COLUMN alarm_state jsonb;
ALTER TABLE alert ADD COLUMN end_reason varchar(32);
ALTER TABLE alert_sensor ADD COLUMN kind varchar(16);
ALTER TABLE alert_sensor ADD CONSTRAINT alert_sensor_kind_valid CHECK (
    kind IN ('intrusion', 'sabotage', 'tamper')
);

-- migrate:down

ALTER TABLE alert_sensor DROP CONSTRAINT alert_sensor_kind_valid;
ALTER TABLE alert_sensor DROP COLUMN kind;
ALTER TABLE alert DROP COLUMN end_reason;
ALTER TABLE runtime_state DROP COLUMN alarm_state;
