#!/usr/bin/env python3
"""A quiet gateway against `sealtrail serve`: what a trickle of events leaves in the store.

Starts the server on 127.0.0.1 with the given config, sends RATE requests per second of EVENTS
JSONL events each for SECONDS, stops it (SIGTERM: it seals what is pending) and prints how many
segment files and manifests the store then holds. Each seal writes one segment and one manifest,
so this shows what the seal interval, not the traffic, costs a store over a day
(docs/BENCHMARKS.md, session 5). Standard library only.

    python3 benches/trickle.py BINARY STORE KEY CONFIG RATE EVENTS SECONDS
"""
import http.client
import json
import os
import subprocess
import sys
import time


def main() -> None:
    binary, store, key, cfg = sys.argv[1:5]
    rate, events, seconds = float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
    srv = subprocess.Popen(
        [binary, "serve", "--store", store, "--key", key, "--listen", "127.0.0.1:0", "--config", cfg],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    addr = srv.stdout.readline().decode().strip().split()[-1]
    tok = subprocess.run([binary, "token", "create", "--store", store, "--role", "gateway",
                          "--source", "jsonl"], capture_output=True, check=True).stdout.decode().strip()
    host, port = addr.rsplit(":", 1)
    t0, n = time.time(), 0
    while time.time() - t0 < seconds:
        body = "".join(json.dumps({"kind": "admin", "ts": "2026-05-01T00:00:00Z", "action": "load",
                                   "source_event_id": f"t{n}-{k}"}) + "\n" for k in range(events))
        c = http.client.HTTPConnection(host, int(port))
        c.request("POST", "/v1/ingest/jsonl", body, {"Authorization": "Bearer " + tok})
        r = c.getresponse()
        r.read()
        if r.status != 202:
            sys.exit(f"request {n}: HTTP {r.status}")
        n += 1
        time.sleep(max(0.0, t0 + n / rate - time.time()))
    srv.terminate()
    srv.wait()
    segs = os.listdir(os.path.join(store, "segments"))
    mdir = os.path.join(store, "manifests")
    sizes = [os.path.getsize(os.path.join(mdir, m)) for m in os.listdir(mdir)]
    print(f"{n} requests, {n * events} events in {seconds:.0f} s: {len(segs)} segments, "
          f"{len(sizes)} manifests, {sum(sizes) / 1e3:.1f} kB of manifests (latest {max(sizes)} B)")


if __name__ == "__main__":
    main()
