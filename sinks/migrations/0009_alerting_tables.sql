-- Alerting (docs/alerting.md): delivery attempts, silences, and the analysts' views.

CREATE TABLE IF NOT EXISTS $database.alert_deliveries $on_cluster
(
    alert_id String,
    seq UInt32,
    notifier LowCardinality(String) COMMENT 'webhook, slack, kafka',
    attempt UInt16,
    at DateTime64(3, 'UTC'),
    ok UInt8,
    status Int32 COMMENT 'HTTP status, 0 when no answer',
    error String
)
ENGINE = $replacing($replica)
ORDER BY (alert_id, seq, notifier, attempt);

CREATE TABLE IF NOT EXISTS $database.alert_silences $on_cluster
(
    silence_id String,
    rule LowCardinality(String) COMMENT '* for any',
    province LowCardinality(String) COMMENT '* for any',
    district LowCardinality(String) COMMENT '* for any; empty for the province itself',
    starts_at DateTime64(3, 'UTC'),
    ends_at DateTime64(3, 'UTC'),
    comment String,
    created_by String,
    deleted UInt8,
    version UInt64
)
ENGINE = $replacing($replica_args version)
ORDER BY silence_id;

CREATE OR REPLACE VIEW $database.v_alerts $on_cluster AS
SELECT
    a.*,
    d.last_notifier,
    d.last_delivery_ok,
    d.last_delivery_at,
    d.last_delivery_error
FROM
(
    SELECT * FROM $database.alerts FINAL
    ORDER BY alert_id, seq DESC
    LIMIT 1 BY alert_id
) AS a
LEFT JOIN
(
    SELECT
        alert_id,
        argMax(notifier, at) AS last_notifier,
        argMax(ok, at) AS last_delivery_ok,
        max(at) AS last_delivery_at,
        argMax(error, at) AS last_delivery_error
    FROM $database.alert_deliveries FINAL
    WHERE notifier != 'kafka'
    GROUP BY alert_id
) AS d USING (alert_id);
