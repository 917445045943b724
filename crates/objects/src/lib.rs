//! The sealed store on S3-compatible object storage (docs/SCALING.md,
//! FORMAT.md §13).
//!
//! A store on a bucket is the same tree of objects as a store directory
//! (FORMAT.md §1): the marker, `keys/`, `segments/`, `manifests/`,
//! `checkpoints/` and `checkpoint`, under one key prefix. This crate owns
//! the two directions across that boundary:
//!
//! - [`publish`]: a writer (ingest, seal, serve) keeps its store directory
//!   on its own disk, where the WAL, the lock, the dedupe set and the tree
//!   index stay, and after each seal publishes what the seal made public.
//!   Every object but `checkpoint` is written create-only (a key that exists
//!   is never replaced); `checkpoint`, the commit point, is replaced only if
//!   it is still the version this writer last wrote, so two writers cannot
//!   both win. Each object is written under S3 Object Lock when retention is
//!   configured.
//! - [`mirror`]: a reader (verify, query, pack, accounting) copies the
//!   bucket's objects into a local directory, exactly (what the bucket no
//!   longer holds is removed), and runs the directory code on it. The
//!   queries then read the bytes that verification hashed, not objects
//!   fetched again that could have been replaced in between.
//!
//! [`location`] parses `--store` (a directory or `s3://bucket/prefix`) and
//! [`s3`] is the one S3 client, over the `object_store` crate with the
//! standard AWS environment settings.
//!
//! Every call blocks: the crate runs its own runtime, so it is called from
//! plain threads (the CLI, the server's publisher thread), never from async
//! code.

pub mod location;
pub mod mirror;
pub mod publish;
pub mod s3;

pub use location::{S3Url, StoreLocation};
pub use s3::{Bucket, Lock, LockMode, Retention};

use std::path::PathBuf;

/// What can go wrong between a store and its bucket. Messages name the
/// object key and what to do; never an object's contents.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// `--store` is not a directory path or a valid `s3://bucket/prefix`.
    #[error("{0}")]
    Location(String),
    /// The S3 client could not be configured from the environment.
    #[error(
        "cannot configure the S3 client for s3://{bucket}: {source} (set AWS_REGION, AWS_ENDPOINT_URL for a non-AWS service, and credentials as for the AWS CLI)"
    )]
    Config {
        /// Bucket name.
        bucket: String,
        /// The client's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A request to the bucket failed.
    #[error(
        "s3://{bucket}/{key}: {what}: {source} (check the bucket name, AWS_ENDPOINT_URL, AWS_REGION and the credentials; docs/SCALING.md)"
    )]
    Request {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The operation.
        what: &'static str,
        /// The client's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A raw request (Object Lock) failed.
    #[error("s3://{bucket}/{key}: {what}: {detail}")]
    Http {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// The operation.
        what: &'static str,
        /// Status or transport error.
        detail: String,
    },
    /// Another writer published to the same prefix: this node's objects
    /// are not published there (its records stay in its store directory).
    #[error(
        "s3://{bucket}/{key} was written by another writer ({detail}); this node's checkpoint of size {size} is not published there and nothing acknowledged is lost (it is in {work}); give each ingest node its own prefix (docs/SCALING.md)"
    )]
    Conflict {
        /// Bucket name.
        bucket: String,
        /// The object that differs.
        key: String,
        /// What differs.
        detail: String,
        /// The local checkpoint's tree size.
        size: u64,
        /// The writer's store directory.
        work: PathBuf,
    },
    /// The local store directory could not be read or written.
    #[error(transparent)]
    Store(#[from] sealtrail_store::StoreError),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, ObjectError>;
