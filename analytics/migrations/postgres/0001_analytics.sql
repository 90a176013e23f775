-- Analytics: counters kept up to date as events arrive (analytics.Store.Record),
-- never computed from the messages, which the queue prunes.

-- daily holds one row per UTC day and (team, employee, network, contact
-- point, source) that saw anything: the overview sums these rows.
CREATE TABLE daily (
    day           TEXT NOT NULL,             -- YYYY-MM-DD, UTC
    team          TEXT NOT NULL,             -- the owner's department then
    employee      TEXT NOT NULL,             -- the owner then; '' for the unassigned pool
    network       TEXT NOT NULL,             -- the contact's network
    contact_point TEXT NOT NULL,             -- the persona, when it is a contact point
    source        TEXT NOT NULL,             -- the contact's source
    msgs_in       BIGINT NOT NULL DEFAULT 0,
    msgs_out      BIGINT NOT NULL DEFAULT 0,
    new_contacts  BIGINT NOT NULL DEFAULT 0,
    gone          BIGINT NOT NULL DEFAULT 0,
    waits         BIGINT NOT NULL DEFAULT 0, -- contact messages that started or resumed a conversation
    replied       BIGINT NOT NULL DEFAULT 0, -- of those waits, how many were answered since
    resp_1h       BIGINT NOT NULL DEFAULT 0, -- first responses given this day, by wait: < 1 h
    resp_4h       BIGINT NOT NULL DEFAULT 0, -- 1-4 h
    resp_8h       BIGINT NOT NULL DEFAULT 0, -- 4-8 h
    resp_24h      BIGINT NOT NULL DEFAULT 0, -- 8-24 h
    resp_over     BIGINT NOT NULL DEFAULT 0, -- > 24 h
    PRIMARY KEY (day, team, employee, network, contact_point, source)
);
CREATE INDEX daily_team ON daily (team, day);
CREATE INDEX daily_employee ON daily (employee, day);

-- response_hist counts the first responses of a day by wait, in
-- log-scale buckets (bucket b: waits from 1.05^b to 1.05^(b+1) seconds),
-- for medians.
CREATE TABLE response_hist (
    day      TEXT NOT NULL,
    team     TEXT NOT NULL,
    employee TEXT NOT NULL,
    bucket   INTEGER NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (day, team, employee, bucket)
);
CREATE INDEX response_hist_team ON response_hist (team, day);
CREATE INDEX response_hist_employee ON response_hist (employee, day);

-- relationships holds each relationship's last message and whether its
-- contact waits for an answer (waiting_since, unix ms; NULL when the
-- owner answered last). wait_* name the daily row the wait was counted
-- in, whose replied the answer increments.
CREATE TABLE relationships (
    relationship_id TEXT PRIMARY KEY NOT NULL,
    owner           TEXT NOT NULL,
    team            TEXT NOT NULL,
    network         TEXT NOT NULL,
    last_kind       TEXT NOT NULL,
    last_at         BIGINT NOT NULL,
    waiting_since   BIGINT,
    wait_day        TEXT NOT NULL DEFAULT '',
    wait_team       TEXT NOT NULL DEFAULT '',
    wait_employee   TEXT NOT NULL DEFAULT '',
    wait_network    TEXT NOT NULL DEFAULT '',
    wait_point      TEXT NOT NULL DEFAULT '',
    wait_source     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX relationships_waiting ON relationships (waiting_since) WHERE waiting_since IS NOT NULL;
