-- H3 rollups become append-only deltas. Every write adds one row per slice
-- it touched — a category on a local (UTC+8) day — holding parallel arrays
-- of hours, resolution-9 cells and counts; readers add the rows up. A bulk
-- load of 100,000 incidents thus writes a few thousand rollup rows instead
-- of upserting a hundred thousand, and no writer waits on another's rollup
-- row. The heatmap read model in the service (internal/hexbin) reloads a
-- slice when a write touches it; the slice index finds its rows. The
-- monthly rollup is gone: year-long heatmaps are summed in memory.
ALTER TABLE h3_rollup RENAME TO h3_rollup_hourly;
CREATE TABLE h3_rollup (
    category text COLLATE "C" NOT NULL,
    day      date NOT NULL,
    hours    smallint[] NOT NULL CHECK (0 <= ALL (hours) AND 23 >= ALL (hours)),
    cells    bigint[] NOT NULL,
    counts   integer[] NOT NULL CHECK (0 <= ALL (counts)),
    CHECK (cardinality(hours) = cardinality(cells) AND cardinality(cells) = cardinality(counts))
);
INSERT INTO h3_rollup
    SELECT category, day, array_agg(hour), array_agg(h3), array_agg(n) FROM h3_rollup_hourly GROUP BY 1, 2;
CREATE INDEX h3_rollup_slice ON h3_rollup (category, day);
DROP TABLE h3_rollup_hourly, h3_rollup_month;

-- Incidents by cell: the code alone. Listing filters by cell codes within
-- a time window that prunes partitions; the narrower key halves what a bulk
-- load spends on this index (B-tree deduplication stores each code once
-- per leaf page).
DROP INDEX incident_cell;
CREATE INDEX incident_cell ON incident (cell_code);

---- create above / drop below ----
DROP INDEX incident_cell;
CREATE INDEX incident_cell ON incident (cell_code, occurred_at);
CREATE TABLE h3_rollup_hourly (
    day      date NOT NULL,
    hour     smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    category text COLLATE "C" NOT NULL,
    h3       bigint NOT NULL,
    n        integer NOT NULL CHECK (n >= 0),
    PRIMARY KEY (category, day, hour, h3)
);
INSERT INTO h3_rollup_hourly
    SELECT r.day, u.hour, r.category, u.h3, sum(u.n)
    FROM h3_rollup r CROSS JOIN LATERAL unnest(r.hours, r.cells, r.counts) AS u(hour, h3, n)
    GROUP BY 1, 2, 3, 4;
CREATE TABLE h3_rollup_month (
    category text COLLATE "C" NOT NULL,
    month    date NOT NULL CHECK (extract(day FROM month) = 1),
    h3       bigint NOT NULL,
    n        integer NOT NULL CHECK (n >= 0),
    PRIMARY KEY (category, month, h3)
);
INSERT INTO h3_rollup_month
    SELECT category, date_trunc('month', day)::date, h3, sum(n) FROM h3_rollup_hourly GROUP BY 1, 2, 3;
DROP TABLE h3_rollup;
ALTER TABLE h3_rollup_hourly RENAME TO h3_rollup;
