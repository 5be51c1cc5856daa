-- The trailing NOTIFY (notify.go): wake the queues of enqueue transactions
-- that skipped their own NOTIFY, once they have committed and are visible
-- to new snapshots (a worker woken earlier could not see their jobs), and
-- return how many queues were woken and the transactions still in
-- progress, to be checked again. (Both are scalar subqueries so that the
-- NOTIFY runs whatever the planner makes of the rest.)
-- Aborted transactions, and IDs too old to look up, are simply dropped.
-- $1 transaction IDs, $2 the due queue of each, $3 notify channel.
WITH t AS (
    SELECT u.x, u.q, pg_xact_status(u.x::text::xid8) AS status,
           pg_visible_in_snapshot(u.x::text::xid8, pg_current_snapshot()) AS visible
    FROM unnest($1::bigint[], $2::text[]) AS u(x, q)
), woke AS (
    SELECT count(pg_notify($3, d.q)) AS n
    FROM (SELECT DISTINCT q FROM t WHERE status = 'committed' AND visible) AS d
)
SELECT (SELECT n FROM woke),
       array(SELECT DISTINCT t.x FROM t WHERE t.status = 'in progress' OR (t.status = 'committed' AND NOT t.visible))
