-- Mark client $1 seen now; no row means it is not registered.
UPDATE {{clients}} SET last_seen = now() WHERE id = $1 RETURNING id
