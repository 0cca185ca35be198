-- Places (docs/semantics.md, "Places"): an incident whose location resolves to a place of
-- the gazetteer (schemas/data/places.json) is keyed by the place, and carries its
-- canonical name and coordinates. `location` now holds "@<place id>" for those.
-- Existing incidents keep their old keys until `incidents replay` recomputes them.

ALTER TABLE $database.incidents $on_cluster
    ADD COLUMN IF NOT EXISTS place_id String DEFAULT '' COMMENT 'gazetteer place id; empty: the location did not resolve',
    ADD COLUMN IF NOT EXISTS place String DEFAULT '' COMMENT 'canonical place name',
    ADD COLUMN IF NOT EXISTS place_latitude Nullable(Float64),
    ADD COLUMN IF NOT EXISTS place_longitude Nullable(Float64);

CREATE OR REPLACE VIEW $database.v_incidents $on_cluster AS
SELECT * EXCEPT (is_deleted)
FROM $database.incidents FINAL;
