-- Open311 GeoReport v2: keys of the citizens' app role, and what a report
-- made through /open311/v2 keeps beside its incident.
ALTER TABLE api_key DROP CONSTRAINT api_key_role_check;
ALTER TABLE api_key ADD CONSTRAINT api_key_role_check
    CHECK (role IN ('dispatcher', 'planner', 'admin', 'app'));

-- One row per incident created through Open311, written in the statement
-- that creates the incident. occurred_at is the incident's partition key,
-- so the join reaches one partition. The contact columns are what the
-- client sent of who reported: kept for the operations centre to call
-- back, never returned by the API.
CREATE TABLE open311_request (
    incident_id bigint PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    key_id      bigint NOT NULL REFERENCES api_key (id),
    address     text NOT NULL DEFAULT '' CHECK (length(address) <= 500),
    address_id  text NOT NULL DEFAULT '' CHECK (length(address_id) <= 200),
    media_url   text CHECK (media_url ~ '^[Hh][Tt][Tt][Pp][Ss]?://' AND length(media_url) <= 2000),
    attributes  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    email       text CHECK (length(email) <= 254),
    first_name  text CHECK (length(first_name) <= 100),
    last_name   text CHECK (length(last_name) <= 100),
    phone       text CHECK (length(phone) <= 32),
    device_id   text CHECK (length(device_id) <= 200),
    account_id  text CHECK (length(account_id) <= 200)
);
-- An app lists the requests it created, newest first.
CREATE INDEX open311_request_key ON open311_request (key_id, incident_id);

---- create above / drop below ----
DROP TABLE open311_request;
-- Keys of the app role have no meaning without it.
DELETE FROM api_key WHERE role = 'app';
ALTER TABLE api_key DROP CONSTRAINT api_key_role_check;
ALTER TABLE api_key ADD CONSTRAINT api_key_role_check
    CHECK (role IN ('dispatcher', 'planner', 'admin'));
