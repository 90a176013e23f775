-- A message's parts beyond its text, as JSON: the files it carries (with
-- where the gateway spooled and re-hosted them) and its references to
-- earlier messages, already translated for the recipient's side (see
-- Outgoing). The ID map itself needs no table: it is the rows'
-- (in_network, in_from, in_id) and (out_network, out_id) columns, scoped
-- by relationship_id, found through messages_in_id and messages_out_id.
ALTER TABLE messages ADD COLUMN parts TEXT NOT NULL DEFAULT '';
-- Retention blanks a message's texts, parts and the gateway's ID of it
-- (which prunes the ID map) in one pass; every relayed message has an
-- out_id, so this index finds what is left to blank.
DROP INDEX IF EXISTS messages_texts;
CREATE INDEX IF NOT EXISTS messages_expire ON messages(done_at) WHERE state <> 'pending' AND out_id <> '';
