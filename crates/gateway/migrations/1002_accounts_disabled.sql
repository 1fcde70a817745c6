-- An account an admin deleted: it can no longer log in, and the gateway refuses its tokens within
-- `auth.account_check_secs`. The row stays so its username and subject id are never reused.
ALTER TABLE accounts ADD COLUMN disabled_at BIGINT;
