-- The ArPI data model (reference-web-api.md section 1) with the fixes of DECISIONS.md.
-- Foreign keys never cascade. arm.user_id and disarm.user_id carry no foreign key on
-- purpose: deleting a user with history is allowed and the history keeps the id (F2).

-- migrate:up

CREATE TYPE armstates AS ENUM ('AWAY', 'STAY', 'MIXED', 'DISARM');
CREATE TYPE channel_types AS ENUM ('basic', 'normal', 'channel_a', 'channel_b');
CREATE TYPE sensor_contact_types AS ENUM ('NO', 'NC');
CREATE TYPE sensor_eol_count AS ENUM ('single', 'double');
CREATE TYPE output_trigger_type AS ENUM ('area', 'system', 'button');

-- A random id of 8 decimal digits not yet used in `tbl` (user and card ids).
CREATE FUNCTION arpi_random_id(tbl regclass) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    candidate integer;
    taken boolean;
BEGIN
    LOOP
        candidate := 10000000 + floor(random() * 90000000)::integer;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE id = $1)', tbl)
            INTO taken USING candidate;
        IF NOT taken THEN
            RETURN candidate;
        END IF;
    END LOOP;
END
$$;

CREATE TABLE sensor_type (
    id integer PRIMARY KEY,
    name varchar(16) NOT NULL,
    description text
);

CREATE TABLE zone (
    id serial PRIMARY KEY,
    name varchar(32) NOT NULL,
    description text NOT NULL DEFAULT '',
    disarmed_delay integer,
    away_alert_delay integer DEFAULT 0,
    stay_alert_delay integer DEFAULT 0,
    away_arm_delay integer DEFAULT 0,
    stay_arm_delay integer DEFAULT 0,
    deleted boolean NOT NULL DEFAULT false,
    ui_order integer,
    CONSTRAINT zone_delays_not_negative CHECK (
        disarmed_delay >= 0 AND away_alert_delay >= 0 AND stay_alert_delay >= 0
        AND away_arm_delay >= 0 AND stay_arm_delay >= 0
    )
);

CREATE TABLE area (
    id serial PRIMARY KEY,
    name varchar(32) NOT NULL,
    arm_state armstates NOT NULL DEFAULT 'DISARM',
    deleted boolean NOT NULL DEFAULT false,
    ui_order integer
);

CREATE TABLE sensor (
    id serial PRIMARY KEY,
    name varchar(16) NOT NULL,
    description text,
    channel integer,
    channel_type channel_types NOT NULL DEFAULT 'normal',
    sensor_contact_type sensor_contact_types NOT NULL DEFAULT 'NO',
    sensor_eol_count sensor_eol_count NOT NULL DEFAULT 'single',
    reference_value double precision,
    monitor_period integer,
    monitor_threshold integer DEFAULT 100,
    alert boolean NOT NULL DEFAULT false,
    silent_alert boolean DEFAULT false,
    error boolean NOT NULL DEFAULT false,
    enabled boolean NOT NULL DEFAULT true,
    deleted boolean NOT NULL DEFAULT false,
    zone_id integer NOT NULL REFERENCES zone (id),
    area_id integer NOT NULL REFERENCES area (id),
    type_id integer NOT NULL REFERENCES sensor_type (id),
    ui_order integer,
    ui_hidden boolean NOT NULL DEFAULT false,
    -- -1 means disconnected; the upper bound depends on the board (checked by the API).
    CONSTRAINT sensor_channel_valid CHECK (channel >= -1),
    CONSTRAINT sensor_monitor_period_positive CHECK (monitor_period > 0),
    CONSTRAINT sensor_monitor_threshold_percent CHECK (
        monitor_threshold BETWEEN 0 AND 100
    )
);
CREATE INDEX sensor_zone_id ON sensor (zone_id);
CREATE INDEX sensor_area_id ON sensor (area_id);

CREATE TABLE keypad_type (
    id integer PRIMARY KEY,
    name varchar(32) NOT NULL UNIQUE,
    description text
);

CREATE TABLE keypad (
    id serial PRIMARY KEY,
    enabled boolean NOT NULL DEFAULT true,
    deleted boolean NOT NULL DEFAULT false,
    type_id integer NOT NULL REFERENCES keypad_type (id)
);

CREATE TABLE "user" (
    id integer PRIMARY KEY DEFAULT arpi_random_id('"user"'),
    name varchar(32) NOT NULL,
    email varchar(255) NOT NULL DEFAULT '',
    role varchar(12) NOT NULL,
    registration_code varchar(64) UNIQUE,
    registration_expiry timestamptz,
    card_registration_expiry timestamptz,
    access_code varchar(64) NOT NULL,
    fourkey_code varchar(64) NOT NULL,
    mcp_key varchar(64),
    comment text,
    CONSTRAINT user_name_not_empty CHECK (length(name) >= 1),
    CONSTRAINT user_role_valid CHECK (role IN ('admin', 'user'))
);

CREATE TABLE card (
    id integer PRIMARY KEY DEFAULT arpi_random_id('card'),
    code varchar(64) NOT NULL,
    user_id integer NOT NULL REFERENCES "user" (id),
    enabled boolean NOT NULL DEFAULT true,
    description text
);
CREATE INDEX card_user_id ON card (user_id);

CREATE TABLE output (
    id serial PRIMARY KEY,
    name varchar(16),
    description text,
    -- Channel 0 drives the siren and belongs to it alone (F19). NULL = not wired;
    -- several unwired outputs may coexist.
    channel integer CONSTRAINT output_channel_unique UNIQUE,
    state boolean NOT NULL DEFAULT false,
    trigger_type output_trigger_type NOT NULL,
    area_id integer REFERENCES area (id),
    delay integer NOT NULL DEFAULT 0,
    duration integer NOT NULL DEFAULT 0,
    default_state boolean NOT NULL DEFAULT false,
    ui_order integer,
    enabled boolean NOT NULL DEFAULT true,
    CONSTRAINT output_channel_valid CHECK (channel BETWEEN 1 AND 7),
    CONSTRAINT output_trigger_area CHECK ((trigger_type = 'area') = (area_id IS NOT NULL)),
    CONSTRAINT output_delay_not_negative CHECK (delay >= 0),
    CONSTRAINT output_duration_not_negative CHECK (duration >= 0)
);
CREATE INDEX output_area_id ON output (area_id);

CREATE TABLE alert (
    id serial PRIMARY KEY,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    silent boolean
);
-- One alert at a time (F13): at most one row may be open.
CREATE UNIQUE INDEX alert_one_open ON alert ((true)) WHERE end_time IS NULL;
CREATE INDEX alert_start_time ON alert (start_time);

CREATE TABLE alert_sensor (
    alert_id integer NOT NULL REFERENCES alert (id),
    sensor_id integer NOT NULL REFERENCES sensor (id),
    name varchar(16),
    description text,
    channel integer,
    type_id integer,
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    delay integer,
    silent boolean,
    monitor_period integer,
    monitor_threshold integer,
    PRIMARY KEY (alert_id, sensor_id)
);

CREATE TABLE arm (
    id serial PRIMARY KEY,
    type armstates NOT NULL,
    time timestamptz NOT NULL,
    keypad_id integer REFERENCES keypad (id),
    user_id integer,
    alert_id integer REFERENCES alert (id)
);
CREATE INDEX arm_time ON arm (time);
CREATE INDEX arm_alert_id ON arm (alert_id);

CREATE TABLE disarm (
    id serial PRIMARY KEY,
    time timestamptz NOT NULL,
    keypad_id integer REFERENCES keypad (id),
    user_id integer,
    alert_id integer REFERENCES alert (id),
    -- An arm has at most one disarm; NULL for a sabotage-only disarm.
    arm_id integer CONSTRAINT disarm_arm_id_unique UNIQUE REFERENCES arm (id)
);
CREATE INDEX disarm_time ON disarm (time);
CREATE INDEX disarm_alert_id ON disarm (alert_id);

CREATE TABLE arm_sensor (
    id serial PRIMARY KEY,
    arm_id integer NOT NULL REFERENCES arm (id),
    sensor_id integer NOT NULL REFERENCES sensor (id),
    channel integer,
    type_id integer,
    name varchar(16),
    description text,
    timestamp timestamptz NOT NULL,
    delay integer,
    enabled boolean,
    -- True when the sensor was bypassed by a forced arming (F11).
    bypassed boolean NOT NULL DEFAULT false
);
CREATE INDEX arm_sensor_arm_id ON arm_sensor (arm_id);

CREATE TABLE option (
    id serial PRIMARY KEY,
    name varchar(32) NOT NULL,
    section varchar(32) NOT NULL,
    value jsonb NOT NULL,
    CONSTRAINT option_name_section_unique UNIQUE (name, section)
);

-- migrate:down

DROP TABLE option;
DROP TABLE arm_sensor;
DROP TABLE disarm;
DROP TABLE arm;
DROP TABLE alert_sensor;
DROP TABLE alert;
DROP TABLE output;
DROP TABLE card;
DROP TABLE "user";
DROP TABLE keypad;
DROP TABLE keypad_type;
DROP TABLE sensor;
DROP TABLE area;
DROP TABLE zone;
DROP TABLE sensor_type;
DROP FUNCTION arpi_random_id(regclass);
DROP TYPE output_trigger_type;
DROP TYPE sensor_eol_count;
DROP TYPE sensor_contact_types;
DROP TYPE channel_types;
DROP TYPE armstates;
