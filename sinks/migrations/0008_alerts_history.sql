-- only if: SELECT count() = 0 FROM system.columns WHERE database = '$database' AND table = 'alerts' AND name = 'seq'
-- Alerting (docs/alerting.md): `alerts` becomes the history of alert state changes, one
-- row per change. The table 0001 created was never written; it is replaced (only while it
-- still has the old shape, so running this again changes nothing).

DROP TABLE IF EXISTS $database.alerts $on_cluster;

CREATE TABLE $database.alerts $on_cluster
(
    alert_id String COMMENT 'stable: rule, area (or incident) and the first day of the episode',
    seq UInt32 COMMENT '1, 2, ... per alert: its state changes in order',
    rule LowCardinality(String),
    event LowCardinality(String) COMMENT 'fired, escalated, updated, resolved, withdrawn',
    state LowCardinality(String) COMMENT 'firing, resolved, withdrawn',
    province LowCardinality(String),
    district LowCardinality(String) COMMENT 'empty for a province-wide alert',
    area_kind LowCardinality(String),
    incident_id String COMMENT 'mass casualty: the incident',
    first_day Date32 COMMENT 'first day of the first firing window',
    last_day Date32 COMMENT 'last day of the last firing window',
    peak_start Date32,
    peak_end Date32,
    observed UInt32,
    expected Float64,
    p_value Float64,
    summary String,
    incident_ids Array(String) COMMENT 'the incidents of the peak window',
    notify UInt8 COMMENT '1: sent to the notifiers (recent, not silenced)',
    silenced_by String,
    notified_state LowCardinality(String),
    notified_observed UInt32,
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = $replacing($replica)
ORDER BY (alert_id, seq);
