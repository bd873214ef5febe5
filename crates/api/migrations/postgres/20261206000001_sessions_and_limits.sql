-- Sessions that end for real, and login limits shared by every instance.

-- Advanced by a password change and by logout-all: a session issued under an older epoch is over.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

-- Session ids ended by logout, each kept only until the token would have expired anyway.
CREATE TABLE revoked_sessions (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL -- seconds since the Unix epoch
);
CREATE INDEX revoked_sessions_expires_at ON revoked_sessions (expires_at);

-- One GCRA bucket per limited key (`address:…`, `account:…`): the theoretical arrival time of
-- the next request, in milliseconds since the Unix epoch, and whether the last attempt was let
-- through (1) or refused (0). A bucket whose time has passed is full again and can be deleted.
CREATE TABLE login_limits (
    bucket       TEXT PRIMARY KEY,
    tat_ms       BIGINT NOT NULL,
    last_allowed INTEGER NOT NULL
);
