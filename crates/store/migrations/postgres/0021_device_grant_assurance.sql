-- What the approver's sign-in proved (amr, acr, auth_time as the identity layer's JSON): the
-- device's session carries it instead of claiming a fresh password sign-in at redemption.
-- Grants approved before this migration have none; their devices get no assurance level.
ALTER TABLE device_grants ADD COLUMN approver_assurance TEXT;
