-- What one sender had accepted in the last day, for the daily file limits
-- (files.max_files_per_day, files.max_bytes_per_day): only messages with
-- parts are indexed, found by network, sender and time.
CREATE INDEX IF NOT EXISTS messages_sender_parts ON messages(in_network, in_from, received_at) WHERE parts <> '';
