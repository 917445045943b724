//! sealtrail turns the logs of healthcare email gateways and identity
//! providers into tamper-evident, independently verifiable HIPAA evidence.
//!
//! Data flows one way:
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

pub mod accounting;
pub mod ingest;
pub mod loggen;
pub mod model;
pub mod query;
pub mod report;
pub mod server;
pub mod store;
pub mod tlog;
pub mod verify;
