BEGIN;
{{claim_plan}};
{{claim}};
COMMIT;
