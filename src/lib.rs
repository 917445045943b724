//! sealtrail turns the logs of healthcare email gateways and identity
//! providers into tamper-evident, independently verifiable HIPAA evidence.
//!
//! This crate is the `sealtrail` command and re-exports the stages, one
//! crate each under `crates/`. Data flows one way:
//!
//! 1. [`ingest`] parses each source's native format into the canonical
//!    [`model::Record`], quarantining what it cannot read;
//! 2. [`store::Appender`] appends records to a write-ahead log and seals them
//!    into hash-chained Parquet segments under an RFC 6962 tree, signing a
//!    C2SP checkpoint and a manifest with a [`tlog::Signer`] passed in;
//! 3. [`verify`] checks a store from its files and a verifier key alone.
//!
//! The byte formats live in `docs/FORMAT.md`; the code map in
//! `docs/ARCHITECTURE.md`.
//!
//! ```no_run
//! use sealtrail::{model::{Kind, Record, Ts}, store::Appender, tlog::Signer};
//! let signer = Signer::generate("example.org/sealtrail").unwrap();
//! let vkey = signer.verifier();
//! let mut app = Appender::open_or_create("store".as_ref(), signer, None).unwrap();
//! let mut r = Record::new(Kind::Admin, Ts::now(), "manual");
//! r.action = Some("note".into());
//! app.append(r).unwrap();
//! app.commit().unwrap(); // durable: may be acknowledged now
//! app.seal().unwrap();   // a segment, a manifest and a signed checkpoint
//! let report = sealtrail::verify::verify_store("store".as_ref(), &[vkey], &Default::default());
//! assert!(report.ok());
//! ```
#![deny(missing_docs)]

// The stages, one crate each (docs/ARCHITECTURE.md), under the names the
// tests, benches and the binary use.
pub use sealtrail_accounting as accounting;
pub use sealtrail_format::{model, tlog};
pub use sealtrail_ingest as ingest;
pub use sealtrail_loggen as loggen;
pub use sealtrail_objects as objects;
pub use sealtrail_query as query;
pub use sealtrail_report as report;
pub use sealtrail_server as server;
pub use sealtrail_store as store;
pub use sealtrail_verify as verify;
pub use sealtrail_witness as witness;
