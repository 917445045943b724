#!/usr/bin/env python3
"""Independent verifier for a sealtrail store, written from docs/FORMAT.md alone.

Uses only `cryptography` and `pyarrow`. Checks the checkpoint's Ed25519 signature with the
auditor's verifier key, recomputes every leaf hash and the hash chain from the Parquet segments,
rebuilds the RFC 6962 root and compares it with the signed checkpoint.

    python3 verify_store.py STORE VKEY_FILE
Exit 0 when the store verifies, 1 otherwise.
"""
import base64
import glob
import hashlib
import os
import sys

import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def parse_vkey(text):
    name, key_id, key = text.strip().split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1 and len(raw) == 33, "not an Ed25519 verifier key"
    want = hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4]
    assert want.hex() == key_id, "key ID does not match the key"
    return name, want, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note, vkey):
    """Returns the note's text if a signature by vkey verifies (FORMAT.md §5.1)."""
    name, key_id, pub = vkey
    if "\r" in note:
        raise SystemExit("crlf-damaged: the note's line endings were converted")
    text, sigs = note.rsplit("\n\n", 1)
    text += "\n"
    for line in sigs.splitlines():
        dash, signer, b64 = line.split(" ")
        raw = base64.b64decode(b64)
        if dash == "\u2014" and signer == name and raw[:4] == key_id:
            pub.verify(raw[4:], text.encode())  # raises InvalidSignature
            return text
    raise SystemExit("unknown-key: no signature by the given key")


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    """RFC 6962 Merkle tree hash (FORMAT.md §4)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def main(store, vkey_path):
    vkey = parse_vkey(open(vkey_path).read())
    origin, size, root_b64 = open_note(open(os.path.join(store, "checkpoint")).read(), vkey).splitlines()
    size, root = int(size), base64.b64decode(root_b64)
    leaf_hashes, chain, expected_idx, ok = [], bytes(32), 0, True
    for path in sorted(glob.glob(os.path.join(store, "segments", "*.parquet"))):
        t = pq.read_table(path, columns=["idx", "leaf", "leaf_hash", "chain"])
        for idx, leaf, lh, ch in zip(*(t.column(c).to_pylist() for c in ("idx", "leaf", "leaf_hash", "chain"))):
            h = hashlib.sha256(b"\x00" + leaf).digest()
            chain = hashlib.sha256(chain + h).digest()
            if idx != expected_idx or h != lh or chain != ch:
                print(f"{os.path.basename(path)} idx {idx}: leaf, hash, order or chain does not verify")
                ok = False
                chain = ch
            leaf_hashes.append(h)
            expected_idx += 1
    if len(leaf_hashes) != size or mth(leaf_hashes) != root:
        print(f"the {len(leaf_hashes)} leaves do not reproduce the signed root of tree size {size}")
        ok = False
    print(("OK" if ok else "FAILED") + f": {origin} tree size {size}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
