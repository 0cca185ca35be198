-- The gazetteer version (docs/semantics.md, "Places"): a hash of schemas/data/places.json
-- and the local alias overlay that `incidents places accept` writes. Each incident row
-- carries the version its key was built with, so a warehouse whose keys were built with two
-- gazetteers shows it (`incidents status`), and a replay can be checked to have rebuilt all.

ALTER TABLE $database.incidents $on_cluster
    ADD COLUMN IF NOT EXISTS gazetteer LowCardinality(String) DEFAULT '' COMMENT 'gazetteer version the incident key was built with; empty: before versions were recorded';
