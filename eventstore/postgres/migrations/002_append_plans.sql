-- PL/pgSQL caches a generic plan after five calls. On a new, empty events
-- table the cheapest plans are sequential scans, and that cached plan would
-- then be used as the table grows, making every append scan the whole log.
-- The append only ever needs its unique indexes: forbid sequential scans
-- inside it.
ALTER FUNCTION {{schema}}.append_events(text, int, bigint, uuid[], text[], bytea[], bytea[])
    SET enable_seqscan = off;
