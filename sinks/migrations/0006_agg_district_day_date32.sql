-- only if: SELECT count() FROM system.columns WHERE database = '$database' AND table = 'agg_district_day' AND name = 'day' AND type = 'Date'
-- Rebuild `agg_district_day` with day as Date32, like 0005 does for `incidents`.

DROP TABLE IF EXISTS $database.agg_district_day_date32 $on_cluster;

CREATE TABLE $database.agg_district_day_date32 $on_cluster
(
    day Date32 COMMENT 'local date (Asia/Karachi)',
    province LowCardinality(String),
    district LowCardinality(String),
    incidents UInt32,
    terror_attacks UInt32,
    security_operations UInt32,
    killed_civilians UInt32,
    killed_security UInt32,
    killed_militants UInt32,
    killed_unknown UInt32,
    killed_total UInt32,
    injured_civilians UInt32,
    injured_security UInt32,
    injured_militants UInt32,
    injured_unknown UInt32,
    injured_total UInt32,
    revision UInt64,
    is_deleted UInt8 COMMENT '1 when the district-day has no incidents left'
)
ENGINE = $replacing($replica_args revision, is_deleted)
ORDER BY (province, district, day);

INSERT INTO $database.agg_district_day_date32 SELECT * FROM $database.agg_district_day;

EXCHANGE TABLES $database.agg_district_day AND $database.agg_district_day_date32 $on_cluster;

DROP TABLE $database.agg_district_day_date32 $on_cluster;
