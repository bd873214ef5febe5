//! What the tests share, one module per concern:
//!
//! - [`app`]: the application in this process on port 0 (`spawn_app`, `TestConfig`, `TestApp`);
//! - [`dist`]: a frontend build in a temporary directory, with real `.br`/`.gz` variants;
//! - [`postgres`]: the two backends, a fresh PostgreSQL database per test, `backend_tests!`;
//! - [`process`]: the `api` binary as a child process;
//! - [`net`]: requests written byte for byte and their answers parsed, and TCP stand-ins for a
//!   database (one that refuses, one that never answers, a relay the test can cut);
//! - [`fleet`]: several instances of one deployment on one database, and a database outage a
//!   test can start and end on either backend.

mod app;
pub mod dist;
mod fleet;
mod net;
mod postgres;
mod process;

pub use app::*;
pub use dist::Dist;
pub use fleet::*;
pub use net::*;
pub use postgres::*;
pub use process::*;
