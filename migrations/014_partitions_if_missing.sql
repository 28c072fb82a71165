-- Replicas create the monthly partitions ahead of time on their own
-- (serve, every few hours); two at once must not fail on the same month.
CREATE OR REPLACE FUNCTION citygrid_ensure_partitions(from_ts timestamptz, to_ts timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', from_ts AT TIME ZONE 'UTC')::date;
    n integer := 0;
    name text;
BEGIN
    WHILE m < to_ts AT TIME ZONE 'UTC' LOOP
        name := format('incident_%s', to_char(m, 'YYYYMM'));
        IF to_regclass(name) IS NULL THEN
            -- Another replica creating the same month is waited for,
            -- and then its table found.
            PERFORM pg_advisory_xact_lock(hashtext('citygrid_ensure_partitions'));
            IF to_regclass(name) IS NULL THEN
                EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF incident FOR VALUES FROM (%L) TO (%L)',
                               name, (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
                n := n + 1;
            END IF;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN n;
END $$;

---- create above / drop below ----
CREATE OR REPLACE FUNCTION citygrid_ensure_partitions(from_ts timestamptz, to_ts timestamptz) RETURNS integer
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
