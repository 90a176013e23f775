-- Why and since when a contact is out of reach on a relationship (added
-- within user_version 2 of the releases before migrations).
ALTER TABLE relationships ADD COLUMN gone TEXT NOT NULL DEFAULT '';
ALTER TABLE relationships ADD COLUMN gone_at INTEGER NOT NULL DEFAULT 0;
