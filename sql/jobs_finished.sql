-- Which of the jobs $1 are no longer stored, neither live nor dead: after a
-- completion write whose reply was lost, the ones its resend found gone.
-- A running job leaves both tables only by completing (the history keeps
-- it apart), so these completed.
SELECT id
FROM unnest($1::bigint[]) AS q(id)
WHERE NOT EXISTS (SELECT 1 FROM {{jobs}} j WHERE j.id = q.id)
  AND NOT EXISTS (SELECT 1 FROM {{dead}} d WHERE d.id = q.id)
