-- The `prod` data set (reference-web-api.md 1.14, DECISIONS W5). The admin's access
-- code 1234 and registration code ABCD1234 (stored normalised: "abcd1234") are
-- bcrypt hashes computed once; both work until changed.

-- migrate:up

INSERT INTO sensor_type (id, name, description) VALUES
    (1, 'Motion', 'Detect motion'),
    (2, 'Tamper', 'Detect sabotage'),
    (3, 'Open', 'Detect opening'),
    (4, 'Break', 'Detect glass break');

INSERT INTO keypad_type (id, name, description) VALUES
    (1, 'DSC', 'DSC keybus (DSC PC-1555RKZ)'),
    (2, 'WIEGAND', 'Wiegand keypad');

INSERT INTO keypad (type_id, enabled) VALUES (2, true);

INSERT INTO area (name, arm_state) VALUES ('House', 'DISARM');

INSERT INTO "user" (
    id, name, email, role, registration_code, registration_expiry,
    access_code, fourkey_code, comment
) VALUES (
    1, 'Administrator', '', 'admin',
    '$2b$12$eKfUEfrWA1XOLOePvbQcv.jZcLm4T8fXClV0CAU6a3OnMOgu.LU0m', NULL,
    '$2b$12$k7A6EaIfgxfxR4.1rTinfO35TIzSpsrC24dEHK1aMJ90MCZLzFS5a',
    '$2b$12$P5rsgq8TmeO9QDpRaRbf6uxWnXG26oZv2fOcbpO0pSRPBiwnfmuG.',
    NULL
);

INSERT INTO option (name, section, value) VALUES (
    'network', 'access',
    '{"service_enabled": true, "restrict_local_network": false, "password_authentication_enabled": true}'
);

-- migrate:down

-- Removes the seed rows only while nothing refers to them any more.
DELETE FROM option WHERE name = 'network' AND section = 'access';
DELETE FROM "user" WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM card WHERE user_id = 1);
DELETE FROM area WHERE name = 'House' AND NOT EXISTS (
    SELECT 1 FROM sensor WHERE sensor.area_id = area.id
) AND NOT EXISTS (SELECT 1 FROM output WHERE output.area_id = area.id);
DELETE FROM keypad WHERE type_id = 2 AND NOT EXISTS (
    SELECT 1 FROM arm WHERE arm.keypad_id = keypad.id
) AND NOT EXISTS (SELECT 1 FROM disarm WHERE disarm.keypad_id = keypad.id);
DELETE FROM keypad_type WHERE id IN (1, 2) AND NOT EXISTS (
    SELECT 1 FROM keypad WHERE keypad.type_id = keypad_type.id
);
DELETE FROM sensor_type WHERE id IN (1, 2, 3, 4) AND NOT EXISTS (
    SELECT 1 FROM sensor WHERE sensor.type_id = sensor_type.id
);
SELECT setval(pg_get_serial_sequence('keypad', 'id'), coalesce(max(id), 0) + 1, false)
    FROM keypad;
SELECT setval(pg_get_serial_sequence('area', 'id'), coalesce(max(id), 0) + 1, false)
    FROM area;
