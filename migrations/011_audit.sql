-- The audit trail: who (the key and its role, or the command line's OS
-- user, or the system), what, on what, when, from where and in which
-- request, for every write and every admin action, written in the same
-- transaction as the change. The table of migration 004 gains the
-- columns; its rows (imports and key changes by then) keep what they said.
ALTER TABLE audit_log RENAME COLUMN object TO target;
ALTER TABLE audit_log
    ADD COLUMN key_id     bigint,
    ADD COLUMN role       text NOT NULL DEFAULT 'system',
    ADD COLUMN town_code  text CHECK (town_code ~ '^[0-9]{9}$'),
    ADD COLUMN addr       text NOT NULL DEFAULT '',
    ADD COLUMN request_id text NOT NULL DEFAULT '';
UPDATE audit_log a SET key_id = k.id, role = k.role
FROM api_key k WHERE a.actor = 'api_key:' || k.id;
UPDATE audit_log SET role = 'cli' WHERE actor = 'cli';
-- Targets name their kind, as every row from now on does.
UPDATE audit_log SET target = 'grid_version:' || target WHERE action = 'grid.import';
UPDATE audit_log a SET target = 'api_key:' || k.id FROM api_key k WHERE a.action LIKE 'api_key.%' AND a.target = k.prefix;

-- The filters of GET /v1/audit, each in the keyset's order (newest id first).
CREATE INDEX audit_log_key ON audit_log (key_id, id) WHERE key_id IS NOT NULL;
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_target ON audit_log (target, id);
CREATE INDEX audit_log_request ON audit_log (request_id) WHERE request_id <> '';
CREATE INDEX audit_log_town ON audit_log (town_code, id) WHERE town_code IS NOT NULL;

-- Immutability: rows are only ever added.
CREATE FUNCTION citygrid_audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION citygrid_audit_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION citygrid_audit_immutable();

---- create above / drop below ----

DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP TRIGGER audit_log_no_change ON audit_log;
DROP FUNCTION citygrid_audit_immutable();
DROP INDEX audit_log_town, audit_log_request, audit_log_target, audit_log_action, audit_log_key;
ALTER TABLE audit_log DROP COLUMN request_id, DROP COLUMN addr, DROP COLUMN town_code, DROP COLUMN role, DROP COLUMN key_id;
ALTER TABLE audit_log RENAME COLUMN target TO object;
