-- Dead letters per kind, each count exact up to $1: kinds are found by
-- skipping through the (kind, died_at) index, one probe per kind.
WITH RECURSIVE kinds AS (
    (SELECT kind FROM {{dead}} ORDER BY kind LIMIT 1)
    UNION ALL
    SELECT (SELECT d.kind FROM {{dead}} d WHERE d.kind > k.kind ORDER BY d.kind LIMIT 1)
    FROM kinds k WHERE k.kind IS NOT NULL
)
SELECT kind, (SELECT count(*) FROM (SELECT 1 FROM {{dead}} d WHERE d.kind = kinds.kind LIMIT $1) c)
FROM kinds
WHERE kind IS NOT NULL
