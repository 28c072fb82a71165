-- API keys may expire, and a revocation reaches every replica at once: the
-- revoking transaction sends NOTIFY citygrid_key_revoked with the key's
-- prefix, and each replica forgets what it cached of that key.
ALTER TABLE api_key ADD COLUMN expires_at timestamptz;
ALTER TABLE api_key ADD CONSTRAINT api_key_expiry CHECK (expires_at IS NULL OR expires_at > created_at);

---- create above / drop below ----
ALTER TABLE api_key DROP CONSTRAINT api_key_expiry;
ALTER TABLE api_key DROP COLUMN expires_at;
