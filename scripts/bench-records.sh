#!/usr/bin/env bash
# Records API benchmark: TICKETS tickets (default 100,000) synced from an unthrottled emulator,
# then CONSUMERS consumers (default 10) at once each read the whole tickets stream through
# GET /api/v1/integrations/{id}/records/tickets in pages of LIMIT (default 1000), following
# next_cursor until an empty page. Side by side, the baseline: the same consumers reading the
# same rows straight from the SQLite file (keyset pages of `id, raw` from fd_tickets, each page's
# JSON parsed once, as the API consumer parses its page). Both consumers are Python threads, so
# the figures are bounded by the client as well as the server. Prints
# records/s over all consumers, and p50/p99 per page, for both; plus the sync's own time.
# usage: scripts/bench-records.sh        env: TICKETS, CONSUMERS, LIMIT
set -euo pipefail
cd "$(dirname "$0")/.."
TICKETS=${TICKETS:-100000}
CONSUMERS=${CONSUMERS:-10}
LIMIT=${LIMIT:-1000}
cargo build --release -q -p deskbridge -p freshdesk-emulator
W=$(mktemp -d /tmp/bench-records.XXXXXX)
echo "work directory: $W"
./target/release/freshdesk-emulator --listen 127.0.0.1:0 --tickets "$TICKETS" --plan unlimited \
  --cert-dir "$W/certs" --ready-file "$W/emu.json" > "$W/emu.log" 2>&1 &
EMU=$!
trap 'kill $EMU ${SRV:-} 2>/dev/null || true' EXIT
for _ in $(seq 300); do [ -s "$W/emu.json" ] && break; sleep 0.1; done
read -r EMU_URL CA KEY < <(python3 -c "import json; r=json.load(open('$W/emu.json')); print(r['base_url'], r['ca_pem'], r['agents'][1]['api_key'])")
PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
export DESKBRIDGE_DATABASE__URL="sqlite://$W/db.sqlite" DESKBRIDGE_SERVER__LISTEN="127.0.0.1:$PORT" \
  DESKBRIDGE_VAULT__MASTER_KEYS="1:$(head -c 32 /dev/urandom | base64)" \
  DESKBRIDGE_FRESHDESK__EMULATOR_BASE_URL="$EMU_URL" DESKBRIDGE_FRESHDESK__EMULATOR_CA_PATH="$CA" \
  DESKBRIDGE_SYNC__ENABLED=false RUST_LOG=warn
DESKBRIDGE_ADMIN_PASSWORD="benchmark passphrase" ./target/release/deskbridge admin create-org --name Bench --email bench@example.org >/dev/null
DESKBRIDGE_FRESHDESK_API_KEY="$KEY" ./target/release/deskbridge admin connect --email bench@example.org --domain acme >/dev/null
read -r ORG ID < <(python3 -c "import sqlite3; print(*sqlite3.connect('$W/db.sqlite').execute('SELECT org_id, id FROM integrations').fetchone())")
START=$(date +%s.%N)
./target/release/deskbridge sync --org "$ORG" --integration "$ID" > "$W/sync.log" 2>&1
echo "sync of $TICKETS tickets (every stream): $(python3 -c "print(round($(date +%s.%N) - $START, 1))") s"
./target/release/deskbridge serve > "$W/server.log" 2>&1 &
SRV=$!
B="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$B/healthz" >/dev/null && break; sleep 0.1; done
COOKIE=$(curl -s -i -d "email=bench@example.org&password=benchmark passphrase" "$B/login" | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}' | tr -d '\r')
CSRF=$(curl -s -H "Cookie: $COOKIE" "$B/settings/api-tokens" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
TOKEN=$(curl -s -H "Cookie: $COOKIE" --data-urlencode "csrf=$CSRF" --data-urlencode "name=bench" \
  --data-urlencode "scopes=records:read" "$B/settings/api-tokens" | grep -o 'id="new-token">[^<]*' | sed 's/.*>//')
python3 - "$B" "$ID" "$TOKEN" "$W/db.sqlite" "$CONSUMERS" "$LIMIT" "$TICKETS" <<'EOF'
import json, sqlite3, sys, threading, time, urllib.request
base, integration, token, db, consumers, limit, tickets = sys.argv[1:8]
consumers, limit = int(consumers), int(limit)

def api_reader(pages, counts):
    cursor, n = None, 0
    while True:
        url = f"{base}/api/v1/integrations/{integration}/records/tickets?limit={limit}"
        if cursor:
            url += f"&cursor={cursor}"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            page = json.loads(r.read())
        pages.append(time.perf_counter() - t0)
        if not page["records"]:
            counts.append(n)
            return
        n += len(page["records"])
        cursor = page["next_cursor"]

def db_reader(pages, counts):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
    last, n = -1, 0
    while True:
        t0 = time.perf_counter()
        rows = con.execute("SELECT id, raw FROM fd_tickets WHERE id > ? ORDER BY id LIMIT ?", (last, limit)).fetchall()
        # One parse per page, as the API consumer makes: the same work on the same JSON.
        decoded = json.loads("[" + ",".join(raw for _, raw in rows) + "]")
        pages.append(time.perf_counter() - t0)
        if not rows:
            counts.append(n)
            return
        n += len(decoded)
        last = rows[-1][0]

def run(name, reader):
    pages, counts = [], []
    threads = [threading.Thread(target=reader, args=(pages, counts)) for _ in range(consumers)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - t0
    pages.sort()
    pct = lambda p: pages[min(len(pages) - 1, int(p * len(pages)))] * 1000
    total = sum(counts)
    print(f"{name}: {consumers} consumers read {total} records ({min(counts)}..{max(counts)} each) in {wall:.1f} s: "
          f"{total / wall:,.0f} records/s; per page of {limit}: p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms")
    return total / wall

api = run("records API", api_reader)
raw = run("SQLite file (baseline)", db_reader)
print(f"records API / SQLite file: {api / raw:.2f}x the records per second")
EOF
echo "server RSS after the load: $(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$SRV/status") MB"
