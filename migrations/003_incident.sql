-- Incidents, partitioned by month of occurrence, and their lifecycle trail.
-- The incident table carries no foreign keys: a row-by-row RI check costs
-- more than the rest of a bulk insert. Category, department, cell and grid
-- version are assigned from the grid snapshot, which is read from these
-- very tables, and reference rows are never deleted.
CREATE SEQUENCE incident_id_seq AS bigint;

CREATE TABLE incident (
    id              bigint NOT NULL DEFAULT nextval('incident_id_seq'),
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    category        text COLLATE "C" NOT NULL CHECK (category ~ '^[PE][0-9]{4}$'),
    geom            geometry(Point, 4326) NOT NULL,
    h3              bigint NOT NULL,           -- H3 cell, resolution 10
    source          text NOT NULL CHECK (source IN ('collector', 'camera', 'hotline', 'app', 'sensor', 'other')),
    description     text NOT NULL DEFAULT '',
    external_id     text CHECK (external_id <> ''),
    status          text NOT NULL CHECK (status IN ('collected', 'registered', 'dispatched', 'handled', 'closed', 'evaluated', 'cancelled', 'parked')),
    cell_code       text COLLATE "C" NOT NULL,
    community_code  text COLLATE "C" NOT NULL,
    town_code       text COLLATE "C" NOT NULL,
    department_code text COLLATE "C" NOT NULL,
    rule_id         bigint,
    grid_version    bigint NOT NULL,
    deadline        timestamptz NOT NULL,
    registered_at   timestamptz,
    dispatched_at   timestamptz,
    handled_at      timestamptz,
    closed_at       timestamptz,
    reworks         integer NOT NULL DEFAULT 0 CHECK (reworks >= 0),
    extensions      integer NOT NULL DEFAULT 0 CHECK (extensions >= 0),
    supervised      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
ALTER SEQUENCE incident_id_seq OWNED BY incident.id;

-- Few indexes, so bulk ingest stays fast. Lookups by id use the primary
-- key. Spatial filters go through the cells: the in-memory grid snapshot
-- turns a bbox into cell codes, and (cell_code, occurred_at) finds their
-- incidents; no GiST index is kept on the points. Time windows prune
-- partitions and use the BRIN index; heatmaps read the H3 rollups.
CREATE INDEX incident_cell ON incident (cell_code, occurred_at);
CREATE INDEX incident_time ON incident USING brin (occurred_at);
-- Open cases only: the supervision queue (overdue incidents).
CREATE INDEX incident_open ON incident (deadline)
    WHERE status IN ('collected', 'registered', 'dispatched', 'handled', 'parked');

CREATE TABLE incident_default PARTITION OF incident DEFAULT;

-- Creates the monthly partitions covering [from, to); idempotent.
CREATE FUNCTION citygrid_ensure_partitions(from_ts timestamptz, to_ts timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
    n integer := 0;
    name text;
BEGIN
    WHILE m < to_ts AT TIME ZONE 'UTC' LOOP
        name := format('incident_%s', to_char(m, 'YYYYMM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF incident FOR VALUES FROM (%L) TO (%L)',
                           name, (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            n := n + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN n;
END $$;

SELECT citygrid_ensure_partitions(date_trunc('month', now()) - interval '24 months',
                                  date_trunc('month', now()) + interval '13 months');

-- Retrying a create with the same external id returns the first incident.
-- A unique index on the partitioned table would have to include the
-- partition key, so the key lives in its own table.
CREATE TABLE incident_key (
    external_id text PRIMARY KEY,
    incident_id bigint NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE TABLE incident_event (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL DEFAULT '',
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX incident_event_incident ON incident_event (incident_id, id);

-- H3 rollups for heatmaps: incidents per local (UTC+8) day and hour,
-- category and resolution-9 cell, kept exact in the transaction of every
-- write. The hour makes hour-of-day and weekday filters exact; coarser
-- resolutions are parents of the stored cell (h3_parent below).
CREATE TABLE h3_rollup (
    day      date NOT NULL,
    hour     smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    category text COLLATE "C" NOT NULL,
    h3       bigint NOT NULL,
    n        integer NOT NULL CHECK (n >= 0),
    PRIMARY KEY (category, day, hour, h3) -- a theme's window is one index range per category
);

-- The same counts per local month: a year's heatmap reads twelve months
-- of these, and the hourly rows only for partial months at the window's
-- ends or for hour and weekday filters.
CREATE TABLE h3_rollup_month (
    category text COLLATE "C" NOT NULL,
    month    date NOT NULL CHECK (extract(day FROM month) = 1),
    h3       bigint NOT NULL,
    n        integer NOT NULL CHECK (n >= 0),
    PRIMARY KEY (category, month, h3)
);

-- The parent of an H3 cell at a coarser resolution: the resolution field
-- set to res and the digits of finer resolutions set to 7 (unused), as the
-- H3 index layout defines it.
CREATE FUNCTION h3_parent(h bigint, res integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (h & ~(15::bigint << 52) & ~((1::bigint << (3 * (15 - res))) - 1))
         | (res::bigint << 52) | ((1::bigint << (3 * (15 - res))) - 1)
$$;

---- create above / drop below ----
DROP TABLE h3_rollup_month, h3_rollup, incident_event, incident_key, incident;
DROP FUNCTION h3_parent;
DROP FUNCTION citygrid_ensure_partitions;
