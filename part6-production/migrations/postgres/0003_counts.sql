-- Counts of the tables that anonymous requests fill (rule AS-16), kept by
-- triggers beside the rows they count. A bound is checked on every
-- sign-in, registration and login attempt, and a flood keeps its table
-- full: reading one row costs the same at 10 rows or 100,000, where
-- count(*) reads them all. The SQLite migration of the same number keeps
-- the same counts.

CREATE TABLE row_counts (
    name TEXT PRIMARY KEY NOT NULL,
    n BIGINT NOT NULL
);
INSERT INTO row_counts (name, n) SELECT 'pending', count(*) FROM pending;
INSERT INTO row_counts (name, n) SELECT 'clients', count(*) FROM clients;
INSERT INTO row_counts (name, n) SELECT 'throttle', count(*) FROM throttle;

-- How many sign-ins each source holds: its share, and the largest holder
-- that a full table takes from, each one index lookup away.
CREATE TABLE pending_sources (
    source TEXT PRIMARY KEY NOT NULL,
    held BIGINT NOT NULL
);
CREATE INDEX pending_sources_held ON pending_sources (held);
INSERT INTO pending_sources (source, held)
    SELECT source, count(*) FROM pending GROUP BY source;

-- The triggers run once per statement, after it has locked every row it
-- changes, and each begins with the table's row in `row_counts`. So every
-- transaction that changes a count takes that row before any row of
-- `pending_sources`, and two of them (a sweep deleting many sign-ins, a
-- person's sign-in being taken) wait for each other in one order and never
-- deadlock.
CREATE FUNCTION rows_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE row_counts SET n = n + (SELECT count(*) FROM added) WHERE name = TG_TABLE_NAME;
    IF TG_TABLE_NAME = 'pending' THEN
        INSERT INTO pending_sources (source, held)
            SELECT source, count(*) FROM added GROUP BY source ORDER BY source
            ON CONFLICT (source) DO UPDATE SET held = pending_sources.held + excluded.held;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION rows_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE row_counts SET n = n - (SELECT count(*) FROM gone) WHERE name = TG_TABLE_NAME;
    IF TG_TABLE_NAME = 'pending' THEN
        UPDATE pending_sources AS counted SET held = counted.held - removed.n
            FROM (SELECT source, count(*) AS n FROM gone GROUP BY source) AS removed
            WHERE counted.source = removed.source;
        DELETE FROM pending_sources
            WHERE held = 0 AND source IN (SELECT source FROM gone);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pending_added AFTER INSERT ON pending
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION rows_added();
CREATE TRIGGER pending_removed AFTER DELETE ON pending
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION rows_removed();
CREATE TRIGGER clients_added AFTER INSERT ON clients
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION rows_added();
CREATE TRIGGER clients_removed AFTER DELETE ON clients
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION rows_removed();
-- For an upsert, `added` holds only the rows it inserted, not the windows
-- it updated.
CREATE TRIGGER throttle_added AFTER INSERT ON throttle
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION rows_added();
CREATE TRIGGER throttle_removed AFTER DELETE ON throttle
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION rows_removed();
