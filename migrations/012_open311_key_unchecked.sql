-- The creating key of a service request is no longer checked by a foreign
-- key. Every report of the citizens' app comes through the same key, and
-- each check locks that one api_key row FOR KEY SHARE: concurrent reports
-- then share the lock through a MultiXact, which every insert extends and
-- PostgreSQL must write out — the most of what a report cost beyond an
-- incident. The key id comes from the authenticated key, and keys are
-- revoked, never deleted, as the incident table keeps its references
-- unchecked for the same reason.
ALTER TABLE open311_request DROP CONSTRAINT open311_request_key_id_fkey;

---- create above / drop below ----
ALTER TABLE open311_request ADD CONSTRAINT open311_request_key_id_fkey
    FOREIGN KEY (key_id) REFERENCES api_key (id);
