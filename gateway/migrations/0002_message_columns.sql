-- Columns added after the first release (subject, thread, auto, broadcast,
-- content_hash) are added by this migration's Go step, which adds only
-- those a database lacks (releases before numbered migrations added them
-- one at a time) and fills content_hash for the rows that had an ID.
-- Before content hashes, an ID was unique per sender forever: a reused ID
-- lost the later message. That index goes.
DROP INDEX IF EXISTS messages_dedupe;
