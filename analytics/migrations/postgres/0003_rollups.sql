-- Rollups of daily and response_hist for the overview of a team or of
-- everyone: a row per day and team (and contact point and source, and
-- bucket), a few thousand for a year, where daily has one per employee,
-- network, contact point and source. Record adds to them in the
-- transaction that adds to daily and response_hist, so they always hold
-- those tables' sums.

-- team_daily is daily summed over employee, network, contact point and
-- source.
CREATE TABLE team_daily (
    day          TEXT NOT NULL,
    team         TEXT NOT NULL,
    msgs_in      BIGINT NOT NULL DEFAULT 0,
    msgs_out     BIGINT NOT NULL DEFAULT 0,
    new_contacts BIGINT NOT NULL DEFAULT 0,
    gone         BIGINT NOT NULL DEFAULT 0,
    waits        BIGINT NOT NULL DEFAULT 0,
    replied      BIGINT NOT NULL DEFAULT 0,
    resp_1h      BIGINT NOT NULL DEFAULT 0,
    resp_4h      BIGINT NOT NULL DEFAULT 0,
    resp_8h      BIGINT NOT NULL DEFAULT 0,
    resp_24h     BIGINT NOT NULL DEFAULT 0,
    resp_over    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, team)
);
CREATE INDEX team_daily_team ON team_daily (team, day);

-- team_new is daily's new contacts summed over employee and network.
CREATE TABLE team_new (
    day           TEXT NOT NULL,
    team          TEXT NOT NULL,
    contact_point TEXT NOT NULL,
    source        TEXT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (day, team, contact_point, source)
);
CREATE INDEX team_new_team ON team_new (team, day);

-- team_response_hist is response_hist summed over employee, and
-- day_response_hist over team too.
CREATE TABLE team_response_hist (
    day    TEXT NOT NULL,
    team   TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (team, day, bucket)
);
CREATE TABLE day_response_hist (
    day    TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (day, bucket)
);

INSERT INTO team_daily (day, team, msgs_in, msgs_out, new_contacts, gone, waits, replied, resp_1h, resp_4h, resp_8h, resp_24h, resp_over)
    SELECT day, team, sum(msgs_in), sum(msgs_out), sum(new_contacts), sum(gone), sum(waits), sum(replied),
        sum(resp_1h), sum(resp_4h), sum(resp_8h), sum(resp_24h), sum(resp_over)
    FROM daily GROUP BY day, team;
INSERT INTO team_new (day, team, contact_point, source, n)
    SELECT day, team, contact_point, source, sum(new_contacts) FROM daily WHERE new_contacts > 0
    GROUP BY day, team, contact_point, source;
INSERT INTO team_response_hist (day, team, bucket, n)
    SELECT day, team, bucket, sum(n) FROM response_hist GROUP BY day, team, bucket;
INSERT INTO day_response_hist (day, bucket, n)
    SELECT day, bucket, sum(n) FROM response_hist GROUP BY day, bucket;
