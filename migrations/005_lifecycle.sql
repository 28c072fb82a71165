-- The lifecycle: where a parked case returns to, and the working calendar's
-- exceptions (public holidays and the weekend days worked instead, 调休).
ALTER TABLE incident ADD COLUMN parked_from text
    CHECK (parked_from IN ('registered', 'dispatched'));
ALTER TABLE incident ADD CONSTRAINT incident_parked
    CHECK ((status = 'parked') = (parked_from IS NOT NULL)) NOT VALID;

ALTER TABLE incident_event ADD CONSTRAINT incident_event_action
    CHECK (action IN ('create', 'register', 'dismiss', 'dispatch', 'return', 'report', 'verify',
                      'reject', 'extend', 'supervise', 'park', 'unpark', 'evaluate'));

CREATE TABLE calendar_day (
    day  date PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('holiday', 'workday')),
    note text NOT NULL DEFAULT ''
);

---- create above / drop below ----
DROP TABLE calendar_day;
ALTER TABLE incident_event DROP CONSTRAINT incident_event_action;
ALTER TABLE incident DROP CONSTRAINT incident_parked;
ALTER TABLE incident DROP COLUMN parked_from;
