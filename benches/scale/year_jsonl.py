"""Canonical JSONL events spread evenly over one or more years, for the
object-storage and Spark measurements of docs/SCALING.md.

    python3 benches/scale/year_jsonl.py EVENTS YEARS OUT.jsonl

Deterministic (seeded): deliveries, sign-ins and PHI access in a 5:3:2
mix from 2025-01-01 on; no real person, address or patient.
"""
import json
import random
import sys

events, years, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
start = 1735689600  # 2025-01-01T00:00:00Z
span = years * 365 * 86400
step = span / events
enc = [("tls", "TLSv1.3", "trusted")] * 8 + [("tls", "TLSv1.2", "untrusted"), ("none", None, None)]
with open(out, "w") as f:
    for i in range(events):
        t = int(start + i * step)
        ts = "%04d-%02d-%02dT%02d:%02d:%02dZ" % __import__("time").gmtime(t)[:6]
        k = i % 10
        if k < 5:
            e, v, p = rng.choice(enc)
            r = {"kind": "delivery", "ts": ts, "source": "gateway", "source_event_id": "d-%d" % i,
                 "message_id": "<m%d@mail.example.org>" % i, "sender": "records@example.org",
                 "recipient": "user%d@partner%d.example" % (i % 5000, i % 40), "status": "sent",
                 "encryption": e, "phi": i % 3 != 0, "patient_id": "P%d" % (i % 20000)}
            if v:
                r.update(tls_version=v, tls_cipher="TLS_AES_256_GCM_SHA384", tls_peer=p)
        elif k < 8:
            r = {"kind": "auth", "ts": ts, "source": "okta", "source_event_id": "a-%d" % i,
                 "user": "clin%d@example.org" % (i % 3000), "outcome": "success" if i % 17 else "denied",
                 "mfa": i % 11 != 0, "factor": "push", "phishing_resistant": False, "app": "EHR",
                 "ip": "10.0.%d.%d" % (i % 250, i % 200)}
        else:
            r = {"kind": "access", "ts": ts, "source": "ehr", "source_event_id": "x-%d" % i,
                 "user": "clin%d@example.org" % (i % 3000), "action": "read", "resource": "chart",
                 "patient_id": "MRN-%d" % (i % 20000), "outcome": "success", "ip": "10.2.0.%d" % (i % 250)}
        f.write(json.dumps(r) + "\n")
