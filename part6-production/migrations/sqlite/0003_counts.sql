-- Counts of the tables that anonymous requests fill (rule AS-16), kept by
-- triggers beside the rows they count. A bound is checked on every
-- sign-in, registration and login attempt, and a flood keeps its table
-- full: reading one row costs the same at 10 rows or 100,000, where
-- count(*) reads them all. The PostgreSQL migration of the same number
-- keeps the same counts.

CREATE TABLE row_counts (
    name TEXT PRIMARY KEY NOT NULL,
    n INTEGER NOT NULL
);
INSERT INTO row_counts (name, n) SELECT 'pending', count(*) FROM pending;
INSERT INTO row_counts (name, n) SELECT 'clients', count(*) FROM clients;
INSERT INTO row_counts (name, n) SELECT 'throttle', count(*) FROM throttle;

-- How many sign-ins each source holds: its share, and the largest holder
-- that a full table takes from, each one index lookup away.
CREATE TABLE pending_sources (
    source TEXT PRIMARY KEY NOT NULL,
    held INTEGER NOT NULL
);
CREATE INDEX pending_sources_held ON pending_sources (held);
INSERT INTO pending_sources (source, held)
    SELECT source, count(*) FROM pending GROUP BY source;

CREATE TRIGGER pending_added AFTER INSERT ON pending BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'pending';
    INSERT INTO pending_sources (source, held) VALUES (NEW.source, 1)
        ON CONFLICT (source) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER pending_removed AFTER DELETE ON pending BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'pending';
    UPDATE pending_sources SET held = held - 1 WHERE source = OLD.source;
    DELETE FROM pending_sources WHERE source = OLD.source AND held = 0;
END;

CREATE TRIGGER clients_added AFTER INSERT ON clients BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'clients';
END;
CREATE TRIGGER clients_removed AFTER DELETE ON clients BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'clients';
END;

-- An upsert that updates a window fires no insert trigger: only a new key
-- adds a row.
CREATE TRIGGER throttle_added AFTER INSERT ON throttle BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'throttle';
END;
CREATE TRIGGER throttle_removed AFTER DELETE ON throttle BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'throttle';
END;
