-- Departments, categories and the rules that route a (category, place) to an owner.
CREATE TABLE department (
    code      text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name      text NOT NULL CHECK (name <> ''),
    kind      text NOT NULL CHECK (kind IN ('department', 'town')),
    town_code text CHECK (town_code ~ '^[0-9]{9}$'),
    CHECK ((kind = 'town') = (town_code IS NOT NULL))
);

CREATE TABLE category (
    code       text PRIMARY KEY CHECK (code ~ '^[PE](0[1-9]|[1-9][0-9])(0[1-9]|[1-9][0-9])$'),
    name       text NOT NULL CHECK (name <> ''),
    major_name text NOT NULL DEFAULT '',
    time_limit integer NOT NULL CHECK (time_limit > 0),
    unit       text NOT NULL CHECK (unit IN ('working_hours', 'working_days')),
    theme      text NOT NULL DEFAULT '' CHECK (theme IN ('', 'parking', 'waterlogging', 'sanitation'))
);

CREATE TABLE responsibility_rule (
    id              bigint PRIMARY KEY,
    pattern         text NOT NULL CHECK (pattern = '*' OR pattern ~ '^[PE](\*|[0-9]{2}\*|[0-9]{4})$'),
    scope           text NOT NULL CHECK (scope IN ('zone', 'zone_kind', 'cell', 'community', 'town', 'city')),
    scope_code      text NOT NULL DEFAULT '',
    department_code text NOT NULL REFERENCES department (code),
    priority        integer NOT NULL DEFAULT 0,
    fallback        boolean NOT NULL DEFAULT false,
    note            text NOT NULL DEFAULT '',
    CHECK ((scope = 'city') = (scope_code = '')),
    CHECK (scope <> 'zone_kind' OR scope_code IN ('urban_core', 'park', 'arterial_road', 'scenic_area', 'river_bank')),
    CHECK (scope <> 'town' OR scope_code ~ '^[0-9]{9}$'),
    CHECK (scope <> 'community' OR scope_code ~ '^[0-9]{12}$'),
    CHECK (scope <> 'cell' OR scope_code ~ '^[0-9]{14,15}$'),
    CHECK (NOT fallback OR (pattern = '*' AND scope = 'town'))
);
CREATE INDEX responsibility_rule_department ON responsibility_rule (department_code);

CREATE TABLE facility (
    code  text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,40}$'),
    kind  text NOT NULL CHECK (kind IN ('camera', 'gas_company', 'gas_point', 'toilet', 'transfer_station', 'waterlog_sensor')),
    name  text NOT NULL DEFAULT '',
    geom  geometry(Point, 4326) NOT NULL,
    attrs jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX facility_geom ON facility USING gist (geom);
CREATE INDEX facility_kind ON facility (kind);

---- create above / drop below ----
DROP TABLE facility, responsibility_rule, category, department;
