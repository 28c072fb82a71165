-- H3 rollups become exact at every resolution and gain the town.
--
-- A row still holds a category's local day, and its entries now carry
-- their town: parallel arrays of hours, towns, cells and signed counts. A
-- town is its 9-digit code read as a number, so an entry costs 4 bytes
-- more, not a string; rows stay per category and day, not per town, so a
-- bulk load spread over a year writes as few rows as before. The cells are
-- of mixed resolutions: a resolution-10 cell is a base entry, the
-- incident's own cell (incident.h3), counted at every coarser resolution
-- in its parent; a cell of resolution r in 5…9 is a correction counted at
-- r only — +1 at latLngToCell(point, r) and −1 at the parent of the
-- resolution-10 cell, for the incidents near cell edges where the two
-- differ (H3 cells do not nest). Merges sum by (town, hour, cell) and drop
-- the entries that cancel out; zero counts are never stored.
--
-- The rows of migration 006 can be neither split by town nor corrected
-- (their resolution-9 cells lost the points), and SQL has no H3 library to
-- compute latLngToCell: the rollups are rebuilt from the incident table by
-- the service (internal/postgres, rebuildRollups, run by every migrate
-- right after this migration), with the same code that writes the rollups
-- of new incidents. h3_rollup_rebuild says what is left: the incidents with
-- id ≤ through in the partitions not yet done. Every incident committed
-- before this migration has such an id; incidents written after it carry
-- their own rollup rows and higher ids (the sequence only grows), so none
-- is counted twice. A writer of the old format still running fails on the
-- new columns rather than writing a row that would miscount.
LOCK TABLE h3_rollup IN ACCESS EXCLUSIVE MODE; -- waits for the writers of old rows
DROP TABLE h3_rollup;
CREATE TABLE h3_rollup (
    category text COLLATE "C" NOT NULL,
    day      date NOT NULL,
    hours    smallint[] NOT NULL CHECK (0 <= ALL (hours) AND 23 >= ALL (hours)),
    towns    integer[] NOT NULL CHECK (0 < ALL (towns) AND 999999999 >= ALL (towns)),
    cells    bigint[] NOT NULL,
    counts   integer[] NOT NULL CHECK (0 <> ALL (counts)),
    CHECK (cardinality(hours) = cardinality(towns) AND cardinality(towns) = cardinality(cells) AND cardinality(cells) = cardinality(counts))
);
CREATE INDEX h3_rollup_slice ON h3_rollup (category, day);

CREATE TABLE h3_rollup_rebuild (
    through bigint NOT NULL,                -- incidents with id ≤ through have no rollup rows yet
    done    text[] NOT NULL DEFAULT '{}'    -- the incident partitions already counted
);
INSERT INTO h3_rollup_rebuild (through)
    SELECT last_value FROM incident_id_seq WHERE is_called AND EXISTS (SELECT 1 FROM incident);

---- create above / drop below ----
-- Back to resolution-9 cells per (category, day): the parents of the base
-- entries, as migration 006 counted them; corrections and towns are
-- dropped.
DROP TABLE h3_rollup_rebuild;
CREATE TABLE h3_rollup_006 (
    category text COLLATE "C" NOT NULL,
    day      date NOT NULL,
    hours    smallint[] NOT NULL CHECK (0 <= ALL (hours) AND 23 >= ALL (hours)),
    cells    bigint[] NOT NULL,
    counts   integer[] NOT NULL CHECK (0 <= ALL (counts)),
    CHECK (cardinality(hours) = cardinality(cells) AND cardinality(cells) = cardinality(counts))
);
INSERT INTO h3_rollup_006
    SELECT category, day, array_agg(hour), array_agg(h3), array_agg(n) FROM (
        SELECT r.category, r.day, u.hour, h3_parent(u.h3, 9) AS h3, sum(u.n)::integer AS n
        FROM h3_rollup r CROSS JOIN LATERAL unnest(r.hours, r.cells, r.counts) AS u(hour, h3, n)
        WHERE (u.h3 >> 52) & 15 = 10
        GROUP BY 1, 2, 3, 4
    ) e GROUP BY 1, 2;
DROP TABLE h3_rollup;
ALTER TABLE h3_rollup_006 RENAME TO h3_rollup;
CREATE INDEX h3_rollup_slice ON h3_rollup (category, day);
