//! svcctl's report: the types live in the shared `reports` crate (what the JSON Schema
//! is generated from, and what holdctl and the tests decode).

pub use reports::svcctl::*;
