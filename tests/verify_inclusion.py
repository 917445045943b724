#!/usr/bin/env python3
"""Independent check of a C2SP tlog-proof (inclusion), written from RFC 9162 §2.1.3.2 and the
C2SP signed-note spec, sharing no code with sealtrail. Used by tests/accounting.rs.

    python3 verify_inclusion.py PROOF_FILE LEAF_FILE VKEY_FILE   -> prints OK, exit 0; else exit 1
"""
import base64
import hashlib
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def h(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def main(proof_path, leaf_path, vkey_path):
    name, key_id, key = open(vkey_path).read().strip().split("+", 2)
    raw_key = base64.b64decode(key)[1:]
    text = open(proof_path).read()
    head, note = text.split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    i = 1
    if lines[i].startswith("extra "):
        i += 1
    index = int(lines[i].removeprefix("index "))
    path = [base64.b64decode(x) for x in lines[i + 1:]]
    body, sigs = note.rsplit("\n\n", 1)
    body += "\n"
    origin, size, root = body.splitlines()
    size, root = int(size), base64.b64decode(root)
    verified = False
    for line in sigs.splitlines():
        _, signer, b64 = line.split(" ")
        sig = base64.b64decode(b64)
        if signer == name and sig[:4].hex() == key_id:
            Ed25519PublicKey.from_public_bytes(raw_key).verify(sig[4:], body.encode())
            verified = True
    assert verified, "no signature by the given key"
    leaf = open(leaf_path, "rb").read()
    r = h(b"\x00", leaf)
    fn, sn = index, size - 1
    assert index < size
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = h(b"\x01", p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    assert sn == 0 and r == root, "root mismatch"
    print(f"OK: leaf {index} in {origin} at size {size}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Exception as e:  # noqa: BLE001
        print(f"FAILED: {e!r}")
        sys.exit(1)
