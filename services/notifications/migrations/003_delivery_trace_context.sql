-- The W3C traceparent where each delivery was queued, so that its send (SMTP, webhook) and the
-- duty records it publishes are spans of the assignment's trace, not of a trace of their own.
ALTER TABLE deliveries ADD COLUMN traceparent text;
