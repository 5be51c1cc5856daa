-- The JobFilter conditions shared by the jobs and dead-letter branches of
-- jobs_list_newest, jobs_list_oldest and jobs_count (included by the
-- jobs_filter marker, with the table aliased j): null parameters match
-- anything. $2 queues, $3 kinds, $4 priorities, $5 ids, $6 created at or
-- after, $7 created before, $8 metadata (jsonb containment), $9 args (jsonb
-- containment).
    ($2::text[] IS NULL OR j.queue = ANY($2))
AND ($3::text[] IS NULL OR j.kind = ANY($3))
AND ($4::smallint[] IS NULL OR j.priority = ANY($4))
AND ($5::bigint[] IS NULL OR j.id = ANY($5))
AND ($6::timestamptz IS NULL OR j.created_at >= $6)
AND ($7::timestamptz IS NULL OR j.created_at < $7)
AND ($8::jsonb IS NULL OR j.metadata @> $8)
AND ($9::jsonb IS NULL OR j.args @> $9)
