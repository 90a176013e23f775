-- Indexes on the columns of migration 2: broadcast caps and progress,
-- deduplication, and retention.
CREATE INDEX IF NOT EXISTS messages_broadcast_contact ON messages(out_network, out_to, received_at) WHERE auto = 'broadcast';
CREATE INDEX IF NOT EXISTS messages_broadcast ON messages(broadcast, state) WHERE broadcast <> '';
CREATE INDEX IF NOT EXISTS messages_in_id ON messages(in_network, in_from, in_id) WHERE in_id <> '';
CREATE INDEX IF NOT EXISTS messages_texts ON messages(done_at) WHERE state <> 'pending' AND (body <> '' OR subject <> '');
