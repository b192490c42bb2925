-- The event log. position is dense and in commit order: it is assigned
-- under a transaction-scoped advisory lock that every append holds until it
-- commits (see append_events).
CREATE TABLE {{schema}}.events (
    position    bigint      PRIMARY KEY,
    id          uuid        NOT NULL,
    stream      text        NOT NULL,
    version     bigint      NOT NULL,
    type        text        NOT NULL,
    data        bytea       NOT NULL,
    metadata    bytea,
    recorded_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX events_id ON {{schema}}.events (id);
CREATE UNIQUE INDEX events_stream_version ON {{schema}}.events (stream, version);

-- append_events is the whole append in one statement (one round trip):
-- lock, idempotency check, expected-version check, insert, notify. The lock
-- is pg_advisory_xact_lock on the store's key, released only at commit or
-- rollback, after the transaction has become visible; so the position read
-- under it (max(position) + 1) is assigned in commit order, and a rollback
-- leaves no hole. Errors: AL001 conflict (DETAIL = actual version, -1 for none),
-- AL002 id reused with another payload, AL003 partial duplicate.
CREATE FUNCTION {{schema}}.append_events(
    p_stream text, p_expected_kind int, p_expected bigint,
    p_ids uuid[], p_types text[], p_data bytea[], p_metadata bytea[])
RETURNS TABLE (r_version bigint, r_position bigint, r_duplicate boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_head    bigint;
    v_last    timestamptz;
    v_now     timestamptz;
    v_cur     bigint;
    v_n       int := coalesce(array_length(p_ids, 1), 0);
    v_found   int;
    v_same    int;
    v_maxver  bigint;
    v_maxpos  bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({{lockkey}});
    SELECT e.position, e.recorded_at INTO v_head, v_last
      FROM {{schema}}.events e ORDER BY e.position DESC LIMIT 1;
    v_head := coalesce(v_head, 0);

    IF v_n > 0 THEN
        SELECT count(*),
               count(*) FILTER (WHERE e.stream = p_stream AND e.type = i.type AND e.data = i.data),
               max(e.version), max(e.position)
          INTO v_found, v_same, v_maxver, v_maxpos
          FROM unnest(p_ids, p_types, p_data) AS i(id, type, data)
          JOIN {{schema}}.events e ON e.id = i.id;
        IF v_found > 0 THEN
            IF v_same < v_found THEN
                RAISE EXCEPTION 'event id stored already with another stream, type or payload'
                    USING ERRCODE = 'AL002';
            END IF;
            IF v_found < v_n THEN
                RAISE EXCEPTION '% of % events stored already', v_found, v_n
                    USING ERRCODE = 'AL003';
            END IF;
            RETURN QUERY SELECT v_maxver, v_maxpos, true;
            RETURN;
        END IF;
    END IF;

    SELECT e.version INTO v_cur FROM {{schema}}.events e
     WHERE e.stream = p_stream ORDER BY e.version DESC LIMIT 1;
    IF (p_expected_kind = 1 AND v_cur IS NOT NULL)
       OR (p_expected_kind = 2 AND v_cur IS NULL)
       OR (p_expected_kind = 3 AND v_cur IS DISTINCT FROM p_expected) THEN
        RAISE EXCEPTION 'wrong expected version'
            USING ERRCODE = 'AL001', DETAIL = coalesce(v_cur, -1)::text;
    END IF;

    IF v_n = 0 THEN
        RETURN QUERY SELECT coalesce(v_cur, -1), v_head, false;
        RETURN;
    END IF;

    v_now := greatest(clock_timestamp(), coalesce(v_last, '-infinity'));
    INSERT INTO {{schema}}.events (position, id, stream, version, type, data, metadata, recorded_at)
    SELECT v_head + t.ord, t.id, p_stream, coalesce(v_cur, -1) + t.ord, t.type, t.data, t.md, v_now
      FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS t(id, type, data, md, ord);
    PERFORM pg_notify('{{channel}}', (v_head + v_n)::text);
    RETURN QUERY SELECT coalesce(v_cur, -1) + v_n, v_head + v_n, false;
END
$fn$;
