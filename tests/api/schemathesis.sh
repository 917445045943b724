#!/usr/bin/env bash
# API security: schemathesis (PyPI) against the server's own /openapi.json, once per role, with
# generated requests: no 500s, no responses that break the documented schema. `.ci/run` runs it.
#   tests/api/schemathesis.sh [path/to/sealtrail]
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/sealtrail-target}/debug/sealtrail}"
command -v schemathesis >/dev/null || python3 -m pip install -q schemathesis
work="$(mktemp -d)"
trap 'kill $pid 2>/dev/null || true; cp "$work"/st-*.log /tmp/ 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" keygen --name st.example/log --out "$work/keys" >/dev/null
"$bin" ingest --store "$work/store" --key "$work/keys/st.example_log.key" "$here"/fixtures/disclosures/* "$here"/fixtures/okta/* >/dev/null 2>&1
"$bin" serve --store "$work/store" --key "$work/keys/st.example_log.key" --listen 127.0.0.1:0 > "$work/out" 2> "$work/server.log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" && break; sleep 0.1; done
addr="$(sed -n 's/^listening on //p' "$work/out")"
status=0
for role in gateway officer auditor patient; do
  case $role in
    gateway) extra=(--source postfix --source okta) ;;
    patient) extra=(--patient MRN-00101) ;;
    *) extra=() ;;
  esac
  tok="$("$bin" token create --store "$work/store" --role "$role" "${extra[@]}" 2>/dev/null)"
  echo "== schemathesis as $role"
  if ! (cd "$work" && schemathesis run "http://$addr/openapi.json" \
      --header "Authorization: Bearer $tok" \
      --checks not_a_server_error,response_schema_conformance \
      --max-examples 25 --suppress-health-check all --no-color --workers 1) > "$work/st-$role.log" 2>&1; then
    status=1
    tail -40 "$work/st-$role.log"
  else
    tail -3 "$work/st-$role.log"
  fi
done
if grep -q '"status":500' "$work/server.log"; then echo "the server answered 500"; status=1; fi
exit $status
