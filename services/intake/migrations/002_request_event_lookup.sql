-- A request whose event id intake has seen is either a redelivery (skipped) or a firm reusing
-- the id for another assignment (refused); telling them apart looks the event id up here.
CREATE INDEX assignments_request_event_idx ON assignments (request_event_id);
CREATE INDEX rejections_request_event_idx ON rejections (request_event_id);
