-- The audit events about a resource (a user's data export reads those about the user).
CREATE INDEX audit_by_resource ON audit_events (resource_id, seq);
