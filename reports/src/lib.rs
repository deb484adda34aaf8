//! The reports the holdkit tools print, one type per report, serde and schemars only: no
//! tool logic. The tools build these to print them, holdctl decodes its children's with
//! them, the JSON Schemas in `schemas/` are generated from them ([`schema`]), and the
//! tests decode every report they see with them. Every struct refuses unknown fields, so
//! a field renamed on one side fails to decode instead of reading as null.
//!
//! docs/contract.md explains every field to users.

pub mod envelope;
pub mod envpatch;
pub mod holdctl;
pub mod pgtruncate;
pub mod schema;
pub mod svcctl;

pub use envelope::{Envelope, ErrorInfo, ErrorKind, ENVELOPE_FIELDS, SCHEMA_VERSION};
