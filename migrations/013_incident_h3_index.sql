-- Incidents are found in a small box through the resolution-10 H3 cell
-- each one stores: the box's H3 cells (some 100 for 1 km²) hold little
-- more than the box, where the grid cells meeting it hold some 15 times
-- as much (the old town's cells are larger than such a box). A B-tree on
-- one bigint costs ingest far less than a GiST index on the points would.
CREATE INDEX incident_h3 ON incident (h3);

---- create above / drop below ----
DROP INDEX incident_h3;
