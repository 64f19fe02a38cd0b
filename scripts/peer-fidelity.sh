#!/usr/bin/env bash
# Runs the public Freshdesk connectors (Airbyte's source and Singer's tap) unmodified against a
# seeded emulator and checks that they get exactly what the emulator holds:
#   - airbyte: every live, non-spam ticket id (its window), crossing the 300-page wall;
#   - tap:     exactly the first 30,000 tickets by updated_at, then the page-301 error, as on Freshdesk.
# usage: scripts/peer-fidelity.sh [TICKETS]   (default 35000; needs ../shared/tools/peer-sync.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
TICKETS=${1:-35000}
SHARED=${SHARED:-../shared}
WORK=$(mktemp -d /tmp/peer-fidelity.XXXXXX)
cargo build --release -q -p freshdesk-emulator
./target/release/freshdesk-emulator --listen 127.0.0.1:0 --tickets "$TICKETS" --plan unlimited \
  --cert-dir "$WORK/certs" --ready-file "$WORK/ready.json" > "$WORK/emulator.log" 2>&1 &
EMU=$!
trap 'kill $EMU 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$WORK/ready.json" ] && break; sleep 0.2; done
read -r PORT KEY CA TOKEN < <(python3 -c "import json; r=json.load(open('$WORK/ready.json')); print(r['port'], r['agents'][1]['api_key'], r['ca_pem'], r['control_token'])")
ctl() { curl -sf --cacert "$CA" -H "X-Emulator-Control: $TOKEN" "https://127.0.0.1:$PORT/_emulator/$1"; }
ctl "export?only=tickets" > "$WORK/export.json"

check() {  # PEER: compares the peer's ticket ids with the emulator's ground truth
  python3 - "$1" "$WORK/export.json" "$2/read.jsonl" <<'PY'
import json, sys
peer, export, read = sys.argv[1:]
tickets = json.load(open(export))["tickets"]
live = sorted((t for t in tickets if not t["spam"] and t["_emulator"]["trash"] == "live"), key=lambda t: (t["updated_at"], t["id"]))
ids = set()
for line in open(read):
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m.get("type") != "RECORD":
        continue
    stream, data = (m["stream"], m["record"]) if "stream" in m else (m["record"]["stream"], m["record"]["data"])
    if stream == "tickets":
        ids.add(data["id"])
want = {t["id"] for t in live} if peer == "airbyte" else {t["id"] for t in live[:30000]}
ok = ids == want
print(f"{peer}: got {len(ids)} unique ticket ids, expected {len(want)}: {'OK' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
PY
}

status=0
OUT="$WORK/tap" bash "$SHARED/tools/peer-sync.sh" tap "$PORT" "$KEY" "$CA" tickets,contacts,companies,agents,groups || true
grep -q "Page 301" "$WORK/tap/read.err" && grep -q "HTTP-error-code: 400" "$WORK/tap/read.err" && echo "tap: stopped at the 300-page wall, as on Freshdesk" || { echo "tap: did not stop at the wall"; status=1; }
check tap "$WORK/tap" || status=1
OUT="$WORK/airbyte" bash "$SHARED/tools/peer-sync.sh" airbyte "$PORT" "$KEY" "$CA" tickets,contacts,companies,agents,groups || status=1
check airbyte "$WORK/airbyte" || status=1
echo "outputs: $WORK"
exit $status
