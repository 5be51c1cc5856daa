-- Complete one job inside the caller's transaction (CompleteTx).
-- $1 id, $2 token.
DELETE FROM {{jobs}}
WHERE id = $1 AND lease_token = $2 AND state = 'running'
