-- API keys and the audit log.
CREATE TABLE api_key (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix     text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{8,16}$'),
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    role       text NOT NULL CHECK (role IN ('dispatcher', 'planner', 'admin')),
    town_code  text CHECK (town_code ~ '^[0-9]{9}$'),
    note       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text NOT NULL,
    action text NOT NULL,
    object text NOT NULL DEFAULT '',
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

---- create above / drop below ----
DROP TABLE audit_log, api_key;
