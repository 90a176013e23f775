-- The waiting list of one employee or team reads only theirs, oldest
-- first, however many others wait.
CREATE INDEX relationships_waiting_owner ON relationships (owner, waiting_since) WHERE waiting_since IS NOT NULL;
CREATE INDEX relationships_waiting_team ON relationships (team, waiting_since) WHERE waiting_since IS NOT NULL;
