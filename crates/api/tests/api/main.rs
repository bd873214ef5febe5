//! Integration tests: the real application on port 0, over real sockets, on SQLite and (when
//! `TEST_DATABASE_URL` is set) on PostgreSQL. One binary, so the suite links once.

mod helpers;

mod access_log;
mod auth;
mod config_errors;
mod connections;
mod cors;
mod database_faults;
mod differential;
mod disk_faults;
mod drain;
mod edge;
mod errors;
mod frontend;
mod health;
mod hostile_input;
mod http_semantics;
mod login_limits;
mod metrics;
mod migrations;
mod release;
mod request_headers;
mod sessions;
mod shutdown;
mod static_paths;
mod warmup;
