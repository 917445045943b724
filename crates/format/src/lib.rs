//! The formats every stage shares, with no I/O: the canonical event record
//! ([`model::Record`], its validation and its canonical leaf bytes) and the
//! transparency-log primitives ([`tlog`]: RFC 6962 hashing and proofs, C2SP
//! signed notes and keys, checkpoints).
//!
//! Everything here is a pure function over bytes and values; reading and
//! writing files is the store's job. The byte formats are specified in
//! docs/FORMAT.md, which the code cites by section.
#![deny(missing_docs)]

pub mod eq;
#[cfg(any(test, feature = "examples"))]
pub mod examples;
mod leaf;
pub mod model;
pub mod tlog;
