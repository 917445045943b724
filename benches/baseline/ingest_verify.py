#!/usr/bin/env python3
"""The plain script a user might write instead of sealtrail (benchmark baseline 7).

Ingest: parse the Postfix maillog (delivery lines only, no joins) and the Okta NDJSON, hash each
record with hashlib, chain the hashes, write Parquet with pyarrow (zstd). No signing, no Merkle
tree, no validation, no quarantine. Verify: read the `leaf` column of sealtrail's segments with
pyarrow and SHA-256 every leaf.

    python3 ingest_verify.py LOGS_DIR STORE_DIR OUT_DIR   -> prints two figures
"""
import glob
import hashlib
import json
import os
import re
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

TO = re.compile(r"^(\S+) \S+ postfix/smtp\[\d+\]: (\w+): to=<([^>]*)>.*status=(\w+)")


def main(logs, store, out):
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    rows = {"ts": [], "kind": [], "who": [], "status": [], "hash": []}
    chain = bytes(32)
    with open(os.path.join(logs, "postfix/maillog"), errors="replace") as f:
        for line in f:
            m = TO.match(line)
            if not m:
                continue
            rec = json.dumps({"ts": m[1], "queue": m[2], "to": m[3], "status": m[4]}).encode()
            h = hashlib.sha256(b"\x00" + rec).digest()
            chain = hashlib.sha256(chain + h).digest()
            for k, v in zip(rows, (m[1], "delivery", m[3], m[4], chain)):
                rows[k].append(v)
    with open(os.path.join(logs, "okta/system-log.ndjson")) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            rec = json.dumps(e, sort_keys=True).encode()
            h = hashlib.sha256(b"\x00" + rec).digest()
            chain = hashlib.sha256(chain + h).digest()
            for k, v in zip(rows, (e.get("published"), "auth", e.get("actor", {}).get("alternateId"), e.get("outcome", {}).get("result"), chain)):
                rows[k].append(v)
    pq.write_table(pa.table(rows), os.path.join(out, "py.parquet"), compression="zstd")
    n = len(rows["ts"])
    print(f"ingest_events_per_s {n / (time.time() - t0):.0f}")
    t0 = time.time()
    total = 0
    for p in sorted(glob.glob(os.path.join(store, "segments", "*.parquet"))):
        for leaf in pq.read_table(p, columns=["leaf"]).column("leaf").to_pylist():
            hashlib.sha256(b"\x00" + leaf).digest()
            total += len(leaf)
    print(f"verify_mb_per_s {total / 1e6 / (time.time() - t0):.1f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
