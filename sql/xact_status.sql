-- Whether transaction $1 (an xid8, as returned by pg_current_xact_id)
-- committed: 'committed', 'aborted' or 'in progress'; null when it is too
-- old to know. Read after a COMMIT that got no answer.
SELECT pg_xact_status($1::text::xid8)
