//! C2SP signed notes with Ed25519, and the key formats around them.
//!
//! A note is UTF-8 text ending in `\n`, a blank line, then signature lines
//! `— <name> <base64(key ID[4] ‖ signature[64])>`; the signature covers the
//! text only (C2SP signed-note, FORMAT.md §5). Key ID =
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`. Keys use Go's
//! `golang.org/x/mod/sumdb/note` string forms so Go tooling reads them as is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Ed25519 algorithm byte in key IDs and key strings.
pub const ALG_ED25519: u8 = 0x01;
const DASH: &str = "\u{2014}";

/// Why a note, key or signature is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The text contains `\r`: line endings were rewritten in transit.
    #[error(
        "carriage returns found: the file was damaged by CRLF line-ending conversion; fetch it again in binary mode"
    )]
    CrlfDamaged,
    /// Not a well-formed note.
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    /// No signature line is from a key we know.
    #[error("no signature from a known key (signed by: {0})")]
    UnknownKey(String),
    /// A signature from a known key does not verify.
    #[error("signature by {0} does not verify: the text was changed after signing")]
    BadSignature(String),
    /// A key string is malformed.
    #[error("malformed key: {0}")]
    Key(&'static str),
}

/// Computes the 4-byte key ID of an Ed25519 key.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    key_id_of(ALG_ED25519, name, public)
}

/// `SHA-256(name ‖ 0x0A ‖ alg ‖ public key)[:4]`, the key ID of every C2SP
/// key type (0x01 a log's signed-note key, 0x04 a witness's cosignature/v1).
pub(crate) fn key_id_of(alg: u8, name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, alg]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Splits `<name>+<hex id>+base64(alg ‖ 32 bytes)` (after an optional
/// `PRIVATE+KEY+` prefix, which the caller strips), checking the type byte:
/// names never contain '+', base64 may, so it splits from the left like Go.
pub(crate) fn split_key(
    s: &str,
    alg: u8,
    what: &'static str,
) -> Result<(String, String, [u8; 32]), NoteError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(hexid), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Key("expected <name>+<id>+<key>"));
    };
    let raw = B64
        .decode(b64)
        .map_err(|_| NoteError::Key("key is not base64"))?;
    if raw.len() != 33 || raw[0] != alg {
        return Err(NoteError::Key(what));
    }
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&raw[1..]);
    Ok((name.to_string(), hexid.to_string(), bytes))
}

/// `<name>+<hex id>+base64(alg ‖ bytes)`.
pub(crate) fn join_key(name: &str, id: [u8; 4], alg: u8, bytes: &[u8; 32]) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(bytes);
    format!("{name}+{}+{}", hex::encode(id), B64.encode(raw))
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A named Ed25519 signing key.
pub struct Signer {
    name: String,
    key: SigningKey,
    id: [u8; 4],
}

impl Signer {
    /// A signer from a 32-byte seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Signer, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(
                "name must be non-empty, without spaces or '+'",
            ));
        }
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_string(),
            key,
            id,
        })
    }

    /// A fresh random key.
    pub fn generate(name: &str) -> Result<Signer, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| NoteError::Key("the OS random generator failed"))?;
        Signer::from_seed(name, seed)
    }

    /// Parses Go's private key form `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`.
    pub fn parse(s: &str) -> Result<Signer, NoteError> {
        let rest = s
            .trim_end_matches(['\n', '\r'])
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("expected PRIVATE+KEY+<name>+<id>+<key>"))?;
        let (name, hexid, seed) = split_key(rest, ALG_ED25519, "not an Ed25519 private key")?;
        let signer = Signer::from_seed(&name, seed)?;
        if hex::encode(signer.id) != hexid {
            return Err(NoteError::Key("key ID does not match the key"));
        }
        Ok(signer)
    }

    /// Go's private key string.
    pub fn to_private_string(&self) -> String {
        format!(
            "PRIVATE+KEY+{}",
            join_key(&self.name, self.id, ALG_ED25519, self.key.as_bytes())
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The key's name (the log origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signs `text` (which must end in `\n`) and returns the whole note.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }

    /// One signature line over `text`, ending in `\n`.
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.id.to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{DASH} {} {}\n", self.name, B64.encode(raw))
    }
}

/// A named Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl Verifier {
    /// Parses Go's verifier key form `<name>+<hex id>+<base64(0x01 ‖ key)>`.
    pub fn parse(s: &str) -> Result<Verifier, NoteError> {
        let (name, hexid, pk) = split_key(s.trim(), ALG_ED25519, "not an Ed25519 verifier key")?;
        let key =
            VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::Key("invalid Ed25519 point"))?;
        let id = key_id(&name, &pk);
        if hex::encode(id) != hexid {
            return Err(NoteError::Key("key ID does not match the key"));
        }
        if !valid_name(&name) {
            return Err(NoteError::Key("bad key name"));
        }
        Ok(Verifier { name, id, key })
    }

    /// Go's verifier key string.
    pub fn to_vkey_string(&self) -> String {
        join_key(&self.name, self.id, ALG_ED25519, self.key.as_bytes())
    }

    /// PEM SubjectPublicKeyInfo, for `openssl pkeyutl -verify`.
    pub fn to_pem(&self) -> String {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
        self.key
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key ID.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// The raw public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        *self.key.as_bytes()
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.contains('\r') {
        return Err(NoteError::CrlfDamaged);
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed("text must not contain blank lines"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("text contains control characters"));
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub id: [u8; 4],
    /// Signature bytes (64 for Ed25519).
    pub sig: Vec<u8>,
}

/// A parsed, not yet verified, note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in `\n`.
    pub text: String,
    /// Its signatures.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Splits a note into text and signature lines.
    pub fn parse(s: &str) -> Result<Note, NoteError> {
        if s.contains('\r') {
            return Err(NoteError::CrlfDamaged);
        }
        let split = s
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = &s[..split + 1];
        check_text(text)?;
        let sigs = &s[split + 2..];
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature block must end with a newline",
            ));
        }
        let mut signatures = Vec::new();
        for line in sigs.lines() {
            let rest = line
                .strip_prefix(DASH)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or(NoteError::Malformed(
                    "signature line must start with an em dash and a space",
                ))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "signature line needs a name and a signature",
            ))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if raw.len() < 5 || !valid_name(name) {
                return Err(NoteError::Malformed("signature too short or bad key name"));
            }
            signatures.push(NoteSignature {
                name: name.to_string(),
                id: [raw[0], raw[1], raw[2], raw[3]],
                sig: raw[4..].to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(NoteError::Malformed("no signature lines"));
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// Verifies the note against a set of keys: every signature by a known key
    /// must verify, and at least one must be present. Returns the names of the
    /// keys that signed. Signatures by unknown keys are ignored (C2SP).
    pub fn verify(&self, keys: &[Verifier]) -> Result<Vec<String>, NoteError> {
        let mut ok = Vec::new();
        for s in &self.signatures {
            let Some(k) = keys.iter().find(|k| k.name == s.name && k.id == s.id) else {
                continue;
            };
            let sig = Signature::from_slice(&s.sig)
                .map_err(|_| NoteError::BadSignature(s.name.clone()))?;
            k.key
                .verify_strict(self.text.as_bytes(), &sig)
                .map_err(|_| NoteError::BadSignature(s.name.clone()))?;
            ok.push(s.name.clone());
        }
        if ok.is_empty() {
            let names: Vec<String> = self
                .signatures
                .iter()
                .map(|s| format!("{}+{}", s.name, hex::encode(s.id)))
                .collect();
            return Err(NoteError::UnknownKey(names.join(", ")));
        }
        Ok(ok)
    }
}

/// Parses a note and verifies it in one step, returning its text.
pub fn open_note(s: &str, keys: &[Verifier]) -> Result<String, NoteError> {
    let note = Note::parse(s)?;
    note.verify(keys)?;
    Ok(note.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let s = Signer::from_seed("example.com/log", [7u8; 32]).unwrap();
        let v = s.verifier();
        let note = s.sign_note("hello\nworld\n").unwrap();
        assert_eq!(
            open_note(&note, std::slice::from_ref(&v)).unwrap(),
            "hello\nworld\n"
        );
        let bad = note.replace("world", "w0rld");
        assert!(matches!(
            open_note(&bad, std::slice::from_ref(&v)),
            Err(NoteError::BadSignature(_))
        ));
        let crlf = note.replace('\n', "\r\n");
        assert_eq!(
            open_note(&crlf, std::slice::from_ref(&v)),
            Err(NoteError::CrlfDamaged)
        );
        let other = Signer::from_seed("example.com/log", [8u8; 32])
            .unwrap()
            .verifier();
        assert!(matches!(
            open_note(&note, &[other]),
            Err(NoteError::UnknownKey(_))
        ));
        assert_eq!(Verifier::parse(&v.to_vkey_string()).unwrap(), v);
        let again = Signer::parse(&s.to_private_string()).unwrap();
        assert_eq!(again.verifier(), v);
        assert!(v.to_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }
}
