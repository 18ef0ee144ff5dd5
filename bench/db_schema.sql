-- The benchmark's admin-shaped database (bench/run_db.sh), deterministic: every value derives
-- from the row number. psql variable :scale multiplies the row counts (1: 200k users, 1M
-- devices, 3M app installs, 5M events).
CREATE TYPE platform AS ENUM ('ios', 'android', 'windows', 'macos', 'linux');
CREATE TABLE users (
  id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
  created timestamptz NOT NULL, attrs jsonb);
CREATE TABLE devices (
  id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id),
  platform platform NOT NULL, serial uuid NOT NULL, model text NOT NULL, os_version text,
  enrolled timestamptz NOT NULL, last_seen timestamptz, attrs jsonb);
CREATE TABLE app_installs (
  device_id bigint NOT NULL REFERENCES devices (id), app_id integer NOT NULL,
  version text NOT NULL, installed timestamptz NOT NULL, PRIMARY KEY (device_id, app_id));
CREATE TABLE events (
  id bigint PRIMARY KEY, device_id bigint, at timestamptz NOT NULL, kind text NOT NULL,
  payload jsonb);
CREATE SEQUENCE events_id_seq OWNED BY events.id;
ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq');

SELECT (200000 * :scale)::bigint AS n_users, (1000000 * :scale)::bigint AS n_devices,
       (5000000 * :scale)::bigint AS n_events \gset
INSERT INTO users
SELECT g, 'User ' || g, 'user' || g || '@example.com',
       '2020-01-01'::timestamptz + g * interval '37 seconds',
       jsonb_build_object('dept', 'dept-' || g % 50, 'locale', (ARRAY['en', 'de', 'fr'])[1 + g % 3])
FROM generate_series(1, :n_users) g;
INSERT INTO devices
SELECT g, 1 + g % :n_users, (ARRAY['ios', 'android', 'windows', 'macos', 'linux'])[1 + g % 5]::platform,
       md5('serial' || g)::uuid, 'model-' || g % 97, '17.' || g % 7 || '.' || g % 3,
       '2021-01-01'::timestamptz + g * interval '11 seconds',
       '2026-11-01'::timestamptz + (g % 86400) * interval '1 second',
       jsonb_build_object('imei', lpad((g::bigint * 7919 % 1000000000)::text, 15, '0'),
                          'supervised', g % 3 = 0, 'tags', jsonb_build_array('t' || g % 11))
FROM generate_series(1, :n_devices) g;
INSERT INTO app_installs
SELECT d, a, '1.' || (d + a) % 20 || '.0', '2024-01-01'::timestamptz + (d * 3 + a) * interval '7 seconds'
FROM generate_series(1, :n_devices) d, generate_series(1, 3) a;
INSERT INTO events
SELECT g, 1 + g % :n_devices, '2026-01-01'::timestamptz + g * interval '3 seconds',
       (ARRAY['checkin', 'enrolled', 'policy', 'app-install', 'location'])[1 + g % 5],
       jsonb_build_object('seq', g, 'ok', g % 13 <> 0, 'note', 'event ' || g % 1000)
FROM generate_series(1, :n_events) g;
SELECT setval('events_id_seq', :n_events) AS events_id \gset
CREATE INDEX devices_user ON devices (user_id);
CREATE INDEX devices_last_seen ON devices (last_seen);
CREATE INDEX events_device_at ON events (device_id, at);
CREATE INDEX app_installs_app ON app_installs (app_id);
