-- The incremental case of bench/run_db.sh: 100k updates, 50k inserts and 10k deletes (times
-- :scale) in 160 transactions, then one marker event the subscription's catch-up waits for.
SELECT greatest(1, (1000 * :scale)::int) AS per \gset
SELECT count(*) AS n_devices FROM devices \gset
SELECT format('UPDATE devices SET last_seen = last_seen + interval ''1 hour'', '
              'os_version = ''18.%s'' WHERE id > %s AND id <= %s', i, i * 5 * :per, i * 5 * :per + :per)
FROM generate_series(0, 99) i \gexec
SELECT format('INSERT INTO events (device_id, at, kind, payload) SELECT 1 + g %% %s, now(), '
              '''checkin'', jsonb_build_object(''batch'', %s, ''g'', g) FROM generate_series(1, %s) g',
              :n_devices, i, :per)
FROM generate_series(0, 49) i \gexec
SELECT format('DELETE FROM events WHERE id > %s AND id <= %s', i * 7 * :per, i * 7 * :per + :per)
FROM generate_series(0, 9) i \gexec
INSERT INTO events (device_id, at, kind) VALUES (1, now(), 'bench-marker');
