-- Firms have their own topics (issue 9): a stop names the firm whose topic it came on. A stop of an
-- assignment not known here yet (it overtook its assignment.created) is kept per firm; when the
-- assignment arrives only its own firm's stops count, any other firm's are dropped. '' marks a stop
-- recorded before stops carried their firm.
ALTER TABLE cancellations ADD COLUMN firm_id text NOT NULL DEFAULT '';
ALTER TABLE cancellations DROP CONSTRAINT cancellations_pkey;
ALTER TABLE cancellations ADD PRIMARY KEY (assignment_id, firm_id);
ALTER TABLE consent_withdrawals ADD COLUMN firm_id text NOT NULL DEFAULT '';
ALTER TABLE consent_withdrawals DROP CONSTRAINT consent_withdrawals_pkey;
ALTER TABLE consent_withdrawals ADD PRIMARY KEY (assignment_id, firm_id);
