//! The transparency-log formats sealtrail speaks: RFC 6962 Merkle hashing and
//! proofs, C2SP signed notes and checkpoints, and C2SP `tlog-proof` text.
//!
//! Pure functions over bytes and strings: no file or network I/O, no
//! knowledge of the store's layout. Both the writer (`store`) and the offline
//! verifier (`verify`) build on this module, and so can an auditor's own code.

pub mod checkpoint;
pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod proof;

pub use checkpoint::Checkpoint;
pub use merkle::Hash;
pub use note::{Note, NoteError, Signer, Verifier};
