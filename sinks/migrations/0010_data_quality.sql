-- Data quality (docs/quality.md): what each `incidents dq` run found, written by the sink
-- from the dq.results topic. One row per run and suite, one per run and expectation.

CREATE TABLE IF NOT EXISTS $database.dq_runs $on_cluster
(
    run_id String,
    suite LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC'),
    success UInt8,
    expectations UInt32,
    failed UInt32,
    trigger LowCardinality(String) COMMENT 'cli or schedule',
    data_docs String COMMENT 'path of the Data Docs page of this run, on the machine that ran it'
)
ENGINE = $replacing($replica)
ORDER BY (run_id, suite);

CREATE TABLE IF NOT EXISTS $database.dq_results $on_cluster
(
    run_id String,
    suite LowCardinality(String),
    position UInt16 COMMENT 'order of the expectation in its suite',
    expectation LowCardinality(String) COMMENT 'GX expectation type',
    column String,
    description String,
    success UInt8,
    observed String COMMENT 'observed value, as JSON',
    unexpected_count UInt64,
    unexpected_examples String COMMENT 'up to 20 unexpected values or rows, as JSON',
    finished_at DateTime64(3, 'UTC')
)
ENGINE = $replacing($replica)
ORDER BY (run_id, suite, position);

CREATE OR REPLACE VIEW $database.v_dq_latest $on_cluster AS
SELECT
    run_id,
    min(started_at) AS started_at,
    max(finished_at) AS finished_at,
    min(success) AS success,
    sum(expectations) AS expectations,
    sum(failed) AS failed,
    groupArray(suite) AS suites,
    any(trigger) AS trigger
FROM $database.dq_runs FINAL
WHERE run_id = (SELECT argMax(run_id, finished_at) FROM $database.dq_runs FINAL)
GROUP BY run_id;
