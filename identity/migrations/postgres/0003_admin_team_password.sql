-- A lead admin's team (an employee department; empty for the other
-- roles) and the PHC string of an admin's console password (argon2id;
-- empty: none, the admin signs in only with their token).
ALTER TABLE admins ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
