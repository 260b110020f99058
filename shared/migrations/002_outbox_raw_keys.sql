-- Record keys are bytes on the wire; a dead letter must carry the original key exactly, even when
-- it is not valid UTF-8 or holds a NUL, which a text column refuses.
ALTER TABLE outbox ALTER COLUMN key TYPE bytea USING convert_to(key, 'UTF8');
