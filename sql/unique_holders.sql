-- The jobs holding the given unique keys. Run after an insert skipped
-- duplicates, in a new statement: the insert's own snapshot may predate
-- the holder's commit. $1 unique keys.
SELECT unique_key, id FROM {{jobs}} WHERE unique_key = ANY($1::text[])
