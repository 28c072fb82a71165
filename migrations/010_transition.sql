-- Lifecycle actions in one round trip. The state machine stays in Go
-- (grid.PlanOf): the caller passes the states the action is allowed in,
-- the state each leads to and the action's effect; this function only
-- locks the row, checks its state against what it was given, writes the
-- new state and the event, and returns the row. Run server-side, the
-- UPDATE names the row's partition (occurred_at is known once the row is
-- locked), so it is planned and locked for one partition, not all.
-- p_occurred, when the caller knows it (an incident this replica created
-- lately), is the row's occurred_at: the lock then goes to one partition
-- too; a row not found there is looked for in every partition.
-- Returns no row when the incident does not exist; only from_status (the
-- rest NULL) when the action is not allowed in its state, or when
-- p_deadline_from is given and the deadline is no longer that one.
CREATE FUNCTION citygrid_transition(
    p_id bigint, p_now timestamptz, p_action text, p_actor text, p_note text,
    p_from text[], p_to text[], p_statuses text[], p_unpark_default text,
    p_unpark boolean, p_park boolean, p_stamp text, p_clear text,
    p_rework boolean, p_extend boolean, p_supervise boolean,
    p_deadline_from timestamptz, p_deadline_to timestamptz, p_occurred timestamptz)
RETURNS TABLE (from_status text, event_id bigint, id bigint, occurred_at timestamptz, received_at timestamptz,
    category text, geom bytea, h3 bigint, source text, description text, external_id text, status text,
    cell_code text, community_code text, town_code text, department_code text, rule_id bigint, grid_version bigint,
    deadline timestamptz, registered_at timestamptz, dispatched_at timestamptz, handled_at timestamptz,
    closed_at timestamptz, reworks integer, extensions integer, supervised boolean, parked_from text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_occ timestamptz;
    v_status text;
    v_parked text;
    v_deadline timestamptz;
    v_to text;
BEGIN
    IF p_occurred IS NOT NULL THEN
        SELECT i.occurred_at, i.status, i.parked_from, i.deadline INTO v_occ, v_status, v_parked, v_deadline
        FROM incident i WHERE i.id = p_id AND i.occurred_at = p_occurred FOR UPDATE;
    END IF;
    IF v_occ IS NULL THEN
        SELECT i.occurred_at, i.status, i.parked_from, i.deadline INTO v_occ, v_status, v_parked, v_deadline
        FROM incident i WHERE i.id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    from_status := v_status;
    IF NOT (v_status = ANY (p_from)) OR (p_deadline_from IS NOT NULL AND v_deadline <> p_deadline_from) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_unpark THEN
        v_to := CASE WHEN v_parked = ANY (p_statuses) THEN v_parked ELSE p_unpark_default END;
    ELSE
        v_to := p_to[array_position(p_from, v_status)];
    END IF;
    UPDATE incident i SET
        status = v_to,
        parked_from = CASE WHEN p_park THEN v_status WHEN p_unpark THEN NULL ELSE i.parked_from END,
        registered_at = CASE WHEN p_stamp = 'registered' THEN p_now ELSE i.registered_at END,
        dispatched_at = CASE WHEN p_stamp = 'dispatched' THEN p_now WHEN p_clear = 'dispatched' THEN NULL ELSE i.dispatched_at END,
        handled_at = CASE WHEN p_stamp = 'handled' THEN p_now WHEN p_clear = 'handled' THEN NULL ELSE i.handled_at END,
        closed_at = CASE WHEN p_stamp = 'closed' THEN p_now ELSE i.closed_at END,
        reworks = i.reworks + CASE WHEN p_rework THEN 1 ELSE 0 END,
        extensions = i.extensions + CASE WHEN p_extend THEN 1 ELSE 0 END,
        supervised = i.supervised OR p_supervise,
        deadline = coalesce(p_deadline_to, i.deadline)
    WHERE i.id = p_id AND i.occurred_at = v_occ
    RETURNING i.id, i.occurred_at, i.received_at, i.category, ST_AsBinary(i.geom), i.h3, i.source, i.description,
        coalesce(i.external_id, ''), i.status, i.cell_code, i.community_code, i.town_code, i.department_code,
        coalesce(i.rule_id, 0), i.grid_version, i.deadline, i.registered_at, i.dispatched_at, i.handled_at, i.closed_at,
        i.reworks, i.extensions, i.supervised, coalesce(i.parked_from, '')
    INTO id, occurred_at, received_at, category, geom, h3, source, description, external_id, status,
        cell_code, community_code, town_code, department_code, rule_id, grid_version, deadline,
        registered_at, dispatched_at, handled_at, closed_at, reworks, extensions, supervised, parked_from;
    INSERT INTO incident_event (incident_id, at, action, from_status, to_status, actor, note)
    VALUES (p_id, p_now, p_action, v_status, v_to, p_actor, p_note)
    RETURNING incident_event.id INTO event_id;
    RETURN NEXT;
END
$$;

---- create above / drop below ----

DROP FUNCTION citygrid_transition(bigint, timestamptz, text, text, text, text[], text[], text[], text, boolean, boolean,
    text, text, boolean, boolean, boolean, timestamptz, timestamptz, timestamptz);
