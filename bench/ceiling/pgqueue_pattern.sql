BEGIN;
{{claim_plan}};
WITH claimed AS ({{claim}}) SELECT array_agg(id) AS ids, array_agg(lease_token) AS tokens FROM claimed
\gset
COMMIT;
{{complete}};
