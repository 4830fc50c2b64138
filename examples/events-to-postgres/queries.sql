-- Example BI queries over the tables events_to_postgres.py loads (cactus_events,
-- cactus_cursor). Run them all: psql "$DSN" -f examples/events-to-postgres/queries.sql
-- Each query starts with a `-- name:` line (tests/tests/events_to_postgres.rs runs them one
-- by one and checks their figures against the node's events). Amounts are minor units
-- (cents) of the pool's currency; days are UTC days of the block time.

-- name: redemptions_per_day_per_store
-- Redemptions per day and store: how many, the basket totals and the discount granted.
SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
       store,
       currency,
       count(*)               AS redemptions,
       sum(order_total_minor) AS order_total_minor,
       sum(discount_minor)    AS discount_minor
FROM cactus_events
WHERE type = 'coupon.redeemed'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

-- name: discount_per_pool
-- Discount per pool, net of rollbacks (refunds give the discount back).
SELECT pool,
       currency,
       count(*) FILTER (WHERE type = 'coupon.redeemed')    AS redemptions,
       count(*) FILTER (WHERE type = 'coupon.rolled_back') AS rollbacks,
       coalesce(sum(discount_minor) FILTER (WHERE type = 'coupon.redeemed'), 0)
         - coalesce(sum(discount_minor) FILTER (WHERE type = 'coupon.rolled_back'), 0)
                                                           AS net_discount_minor
FROM cactus_events
WHERE type IN ('coupon.redeemed', 'coupon.rolled_back')
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: rejection_reasons
-- Refused txs by kind and reason (failed redemptions are fraud evidence).
SELECT tx_kind,
       reject_reason,
       count(*) AS rejections
FROM cactus_events
WHERE type = 'tx.rejected'
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2;

-- name: consumer_lag
-- Where each consumer stands: its cursor, the events it loaded, the node's log size then.
SELECT consumer, after_id, events, log_size, updated_at
FROM cactus_cursor
ORDER BY consumer;
