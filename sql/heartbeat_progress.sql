-- heartbeat.sql that also stores the progress the handlers reported since
-- the last heartbeat (SetProgress): progress is in no index, so this stays
-- a HOT update like the plain heartbeat. Returns the pairs still held.
-- $1 ids, $2 tokens, $3 lease (microseconds), $4 progress (json text, null
-- keeps the stored one).
UPDATE {{jobs}} AS j
SET lease_until = now() + $3::bigint * interval '1 microsecond',
    progress = coalesce(r.progress::jsonb, j.progress)
FROM unnest($1::bigint[], $2::bigint[], $4::text[]) AS r(id, token, progress)
WHERE j.id = r.id AND j.lease_token = r.token AND j.state = 'running'
RETURNING j.id, j.lease_token
