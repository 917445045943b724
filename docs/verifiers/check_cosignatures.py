#!/usr/bin/env python3
"""Independent check of witness cosignatures on a sealtrail checkpoint, written
from the C2SP specs (signed-note, tlog-checkpoint, tlog-cosignature) and
docs/FORMAT.md §5.5 alone.

Uses only the `cryptography` package.

    python3 check_cosignatures.py CHECKPOINT LOG_VKEY MIN WITNESS_VKEY...

Checks the log's Ed25519 signature (type 0x01 vkey), then each witness's
cosignature/v1 (type 0x04 vkey): key ID = SHA-256(name || 0x0A || 0x04 ||
key)[:4]; signature bytes = key ID || timestamp (8 bytes, big-endian) ||
Ed25519 signature over "cosignature/v1\\ntime <timestamp>\\n" + the
checkpoint body. Prints one line per witness; exit 0 when at least MIN
witnesses cosigned, 1 otherwise.
"""
import base64
import hashlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def parse_vkey(text, alg):
    name, key_id, key = text.strip().split("+", 2)
    raw = base64.b64decode(key)
    if len(raw) != 33 or raw[0] != alg:
        raise SystemExit("%s: not a type 0x%02x verifier key" % (name, alg))
    want = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + raw[1:]).digest()[:4]
    if want.hex() != key_id:
        raise SystemExit("%s: the key ID does not match the key" % name)
    return name, want, Ed25519PublicKey.from_public_bytes(raw[1:])


def signatures(note):
    body, sigs = note.rsplit("\n\n", 1)
    body += "\n"
    out = []
    for line in sigs.splitlines():
        dash, name, b64 = line.split(" ")
        if dash != "\u2014":
            raise SystemExit("a signature line does not start with an em dash")
        out.append((name, base64.b64decode(b64)))
    return body, out


def main(cp_path, log_vkey_path, minimum, witness_paths):
    note = open(cp_path, encoding="utf-8", newline="").read()
    body, sigs = signatures(note)
    name, key_id, pub = parse_vkey(open(log_vkey_path).read(), 0x01)
    logged = False
    for n, raw in sigs:
        if n == name and raw[:4] == key_id:
            pub.verify(raw[4:], body.encode())  # raises InvalidSignature
            logged = True
    if not logged:
        raise SystemExit("no signature by the log's key")
    print("log %s: checkpoint of size %s signed" % (name, body.split("\n")[1]))
    good = 0
    for path in witness_paths:
        wname, wid, wpub = parse_vkey(open(path).read(), 0x04)
        seen = None
        for n, raw in sigs:
            if n != wname or raw[:4] != wid or len(raw) != 4 + 8 + 64:
                continue
            ts = int.from_bytes(raw[4:12], "big")
            msg = ("cosignature/v1\ntime %d\n" % ts).encode() + body.encode()
            try:
                wpub.verify(raw[12:], msg)
                seen = ts
            except InvalidSignature:
                raise SystemExit("witness %s: a cosignature that does not verify" % wname)
        if seen is None:
            print("witness %s: no cosignature" % wname)
        else:
            good += 1
            print("witness %s: cosigned at %d (POSIX seconds)" % (wname, seen))
    print("%d of %d witnesses cosigned; %d required" % (good, len(witness_paths), minimum))
    return 0 if good >= minimum else 1


if __name__ == "__main__":
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
