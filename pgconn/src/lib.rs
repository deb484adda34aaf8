//! pgconn: connecting to PostgreSQL the way libpq does, under holdkit's trust rules.
//!
//! - [`resolve`] (`choose`): which connection string wins (`--database-url`, an env
//!   file's `DATABASE_URL`, the environment's, `PG*` and defaults) and whose
//!   credentials it may use;
//! - `conninfo`: libpq's connection-string grammar, judged against libpq itself by
//!   `tests/conninfo_libpq.rs`;
//! - `target`: what the string leaves out, from `PG*`, pgpass and defaults;
//! - `untrusted`: what a URL from a file another user can write may use;
//! - `env_source`: the one place an env file is opened and its trust read;
//! - `connect`, `tls_config`, `tls`, `pgpass`: the connection itself.
//!
//! Every password read is a `Secret`, remembered so no output can carry it.

mod choose;
mod connect;
pub mod conninfo;
mod env_source;
mod pgpass;
mod target;
mod tls;
mod tls_config;
mod untrusted;

pub use choose::{resolve, Choice};
pub use connect::{error_chain, Connection, Tls};
pub use target::{ConnSource, ConnTarget, HostSpec, SslModeSetting, APPLICATION_NAME};
