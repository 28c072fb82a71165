-- The grid model: versions, towns, communities, cells and zones.
-- Coordinates are SRID 4326 (CGCS2000 geographic taken as equal).
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE grid_version (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    active       boolean NOT NULL DEFAULT false,
    source       text NOT NULL CHECK (source <> ''),
    note         text NOT NULL DEFAULT '',
    CHECK (NOT active OR activated_at IS NOT NULL)
);
-- At most one version is active; lookups use it.
CREATE UNIQUE INDEX grid_version_one_active ON grid_version (active) WHERE active;

CREATE TABLE town (
    version_id bigint NOT NULL REFERENCES grid_version (id) ON DELETE CASCADE,
    code       text NOT NULL CHECK (code ~ '^[0-9]{9}$'),
    name       text NOT NULL CHECK (name <> ''),
    kind       text NOT NULL CHECK (kind IN ('street', 'town')),
    geom       geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    area_m2    double precision NOT NULL CHECK (area_m2 > 0),
    PRIMARY KEY (version_id, code)
);
CREATE INDEX town_geom ON town USING gist (geom);

CREATE TABLE community (
    version_id bigint NOT NULL,
    code       text NOT NULL CHECK (code ~ '^[0-9]{12}$'),
    name       text NOT NULL CHECK (name <> ''),
    town_code  text NOT NULL,
    geom       geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    area_m2    double precision NOT NULL CHECK (area_m2 > 0),
    PRIMARY KEY (version_id, code),
    FOREIGN KEY (version_id, town_code) REFERENCES town (version_id, code) ON DELETE CASCADE,
    CHECK (left(code, 9) = town_code)
);
CREATE INDEX community_geom ON community USING gist (geom);

-- Cell codes: 15 digits (DB11/T 2157-2023) or 14 (CJ/T 213-2005), both
-- beginning with the community code.
CREATE TABLE cell (
    version_id     bigint NOT NULL,
    code           text NOT NULL CHECK (code ~ '^[0-9]{14,15}$'),
    name           text NOT NULL CHECK (name <> ''),
    community_code text NOT NULL,
    town_code      text NOT NULL,
    geom           geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    area_m2        double precision NOT NULL CHECK (area_m2 > 0),
    PRIMARY KEY (version_id, code),
    FOREIGN KEY (version_id, community_code) REFERENCES community (version_id, code) ON DELETE CASCADE,
    CHECK (left(code, 12) = community_code),
    CHECK (left(code, 9) = town_code)
);
CREATE INDEX cell_geom ON cell USING gist (geom);
CREATE INDEX cell_code ON cell (code);

CREATE TABLE zone (
    version_id bigint NOT NULL REFERENCES grid_version (id) ON DELETE CASCADE,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name       text NOT NULL CHECK (name <> ''),
    kind       text NOT NULL CHECK (kind IN ('urban_core', 'park', 'arterial_road', 'scenic_area', 'river_bank')),
    geom       geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    PRIMARY KEY (version_id, code)
);
CREATE INDEX zone_geom ON zone USING gist (geom);

-- The city boundary of each version (the union of its towns).
CREATE TABLE city (
    version_id bigint PRIMARY KEY REFERENCES grid_version (id) ON DELETE CASCADE,
    code       text NOT NULL CHECK (code ~ '^[0-9]{6}$'),
    name       text NOT NULL,
    synthetic  boolean NOT NULL,
    geom       geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom))
);

---- create above / drop below ----
DROP TABLE city, zone, cell, community, town, grid_version;
