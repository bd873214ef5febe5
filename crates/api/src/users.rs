//! Accounts. The SQL is written once for both dialects (`$1` placeholders work in SQLite too).

/// Looks up a login by its lower-cased email. Prepared on every connection by warmup, since login
/// is the first thing a user does.
pub const FIND_BY_EMAIL: &str = "SELECT id, email, password_hash FROM users WHERE email = $1";
