//! C2SP `tlog-cosignature` v1 (Ed25519): a witness's timestamped statement
//! that a checkpoint is the largest consistent tree head it has seen for
//! its log (FORMAT.md §5.5).
//!
//! A cosignature is one more signature line on the checkpoint note:
//! `— <witness name> base64(key ID[4] ‖ timestamp[8, big-endian] ‖ Ed25519
//! signature[64])`, the signature over `cosignature/v1\ntime <timestamp>\n`
//! followed by the checkpoint's body. Key ID =
//! `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]`; a witness's verifier key
//! is the vkey `<name>+<hex id>+base64(0x04 ‖ public key)`. Its private key
//! file has the shape of a log key's with the type byte 0x04:
//! `PRIVATE+KEY+<name>+<hex id>+base64(0x04 ‖ seed)`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::note::{NoteError, NoteSignature, join_key, key_id_of, split_key, valid_name};

/// The cosignature/v1 type byte in key IDs and key strings.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

const DASH: &str = "\u{2014}";

/// The key ID of a cosignature/v1 key.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    key_id_of(ALG_COSIGNATURE_V1, name, public)
}

/// The message a cosignature signs: the header and timestamp lines, then
/// the checkpoint body (its text up to and including the last newline
/// before the blank line; no signature lines).
pub fn message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// A witness's signing key.
pub struct Cosigner {
    name: String,
    key: SigningKey,
    id: [u8; 4],
}

impl Cosigner {
    /// A cosigner from a 32-byte seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Cosigner, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(
                "name must be non-empty, without spaces or '+'",
            ));
        }
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Cosigner {
            name: name.to_string(),
            key,
            id,
        })
    }

    /// A fresh random key.
    pub fn generate(name: &str) -> Result<Cosigner, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| NoteError::Key("the OS random generator failed"))?;
        Cosigner::from_seed(name, seed)
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+base64(0x04 ‖ seed)`.
    pub fn parse(s: &str) -> Result<Cosigner, NoteError> {
        let rest = s
            .trim_end_matches(['\n', '\r'])
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("expected PRIVATE+KEY+<name>+<id>+<key>"))?;
        let (name, hexid, seed) = split_key(
            rest,
            ALG_COSIGNATURE_V1,
            "not a cosignature/v1 (type 0x04) private key",
        )?;
        let c = Cosigner::from_seed(&name, seed)?;
        if hex::encode(c.id) != hexid {
            return Err(NoteError::Key("key ID does not match the key"));
        }
        Ok(c)
    }

    /// The private key string.
    pub fn to_private_string(&self) -> String {
        format!(
            "PRIVATE+KEY+{}",
            join_key(&self.name, self.id, ALG_COSIGNATURE_V1, self.key.as_bytes())
        )
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> CosignerKey {
        CosignerKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The cosignature line over a checkpoint `body`, at `timestamp`
    /// (seconds since the epoch), ending in `\n`.
    pub fn cosign(&self, body: &str, timestamp: u64) -> String {
        let sig = self.key.sign(message(body, timestamp).as_bytes());
        let mut raw = self.id.to_vec();
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        format!("{DASH} {} {}\n", self.name, B64.encode(raw))
    }
}

/// A witness's public key (a type 0x04 vkey).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignerKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl CosignerKey {
    /// Parses `<name>+<hex id>+base64(0x04 ‖ public key)`.
    pub fn parse(s: &str) -> Result<CosignerKey, NoteError> {
        let (name, hexid, pk) = split_key(
            s.trim(),
            ALG_COSIGNATURE_V1,
            "not a cosignature/v1 (type 0x04) verifier key",
        )?;
        let key =
            VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::Key("invalid Ed25519 point"))?;
        let id = key_id(&name, &pk);
        if hex::encode(id) != hexid || !valid_name(&name) {
            return Err(NoteError::Key("key ID does not match the key, or bad name"));
        }
        Ok(CosignerKey { name, id, key })
    }

    /// The vkey string.
    pub fn to_vkey_string(&self) -> String {
        join_key(&self.name, self.id, ALG_COSIGNATURE_V1, self.key.as_bytes())
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The timestamp of `sig` if it is this witness's valid cosignature on
    /// the checkpoint `body`; `None` for another key's line or a bad one.
    pub fn verify(&self, sig: &NoteSignature, body: &str) -> Option<u64> {
        if sig.name != self.name || sig.id != self.id || sig.sig.len() != 72 {
            return None;
        }
        let ts = u64::from_be_bytes(sig.sig[..8].try_into().ok()?);
        if ts > i64::MAX as u64 {
            return None;
        }
        let s = Signature::from_slice(&sig.sig[8..]).ok()?;
        self.key
            .verify_strict(message(body, ts).as_bytes(), &s)
            .ok()
            .map(|()| ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::note::Note;

    /// The example of C2SP tlog-cosignature: its cosignature line decodes to
    /// a 4-byte key ID, the big-endian timestamp of the example's signed
    /// message (`time 1679315147`) and a 64-byte signature.
    #[test]
    fn the_spec_example_has_this_byte_layout() {
        let note = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
        let n = Note::parse(note).unwrap();
        let w = &n.signatures[1];
        assert_eq!(w.name, "witness.example.com/w1");
        assert_eq!(w.sig.len(), 8 + 64);
        assert_eq!(
            u64::from_be_bytes(w.sig[..8].try_into().unwrap()),
            1_679_315_147
        );
        assert_eq!(
            message(&n.text, 1_679_315_147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn cosignatures_verify_only_for_their_key_and_body() {
        let w = Cosigner::from_seed("witness.example/w1", [7; 32]).unwrap();
        let k = CosignerKey::parse(&w.verifier().to_vkey_string()).unwrap();
        assert_eq!(Cosigner::parse(&w.to_private_string()).unwrap().id, w.id);
        let body = "log.example/a\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let line = w.cosign(body, 1_700_000_000);
        let n = Note::parse(&format!("{body}\n{line}")).unwrap();
        assert_eq!(k.verify(&n.signatures[0], body), Some(1_700_000_000));
        assert_eq!(k.verify(&n.signatures[0], &body.replace('3', "4")), None);
        let other = Cosigner::from_seed("witness.example/w1", [8; 32])
            .unwrap()
            .verifier();
        assert_eq!(other.verify(&n.signatures[0], body), None);
        // the key ID commits to the type byte: a log key's ID differs
        assert_ne!(
            key_id("witness.example/w1", &[1; 32]),
            crate::tlog::note::key_id("witness.example/w1", &[1; 32])
        );
    }
}
