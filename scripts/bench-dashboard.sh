#!/usr/bin/env bash
# Dashboard benchmark: the integrations page and GET /api/v1/integrations under 50 concurrent
# clients on loopback (wrk, 2 threads, 15 s each), with /healthz as the side-by-side baseline, plus
# the server's memory at idle and after the load. Targets: p99 under 20 ms; idle RSS under 50 MB.
# usage: scripts/bench-dashboard.sh     (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench-dashboard: needs wrk (apt-get install wrk)"; exit 2; }
cargo build --release -q -p deskbridge -p freshdesk-emulator
W=$(mktemp -d /tmp/bench-dashboard.XXXXXX)
./target/release/freshdesk-emulator --listen 127.0.0.1:0 --tickets 2000 --cert-dir "$W/certs" --ready-file "$W/emu.json" > "$W/emu.log" 2>&1 &
EMU=$!
trap 'kill $EMU ${SRV:-} 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$W/emu.json" ] && break; sleep 0.1; done
read -r EMU_URL CA KEY < <(python3 -c "import json; r=json.load(open('$W/emu.json')); print(r['base_url'], r['ca_pem'], r['agents'][1]['api_key'])")
PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
export DESKBRIDGE_DATABASE__URL="sqlite://$W/db.sqlite" DESKBRIDGE_SERVER__LISTEN="127.0.0.1:$PORT" \
  DESKBRIDGE_VAULT__MASTER_KEYS="1:$(head -c 32 /dev/urandom | base64)" \
  DESKBRIDGE_FRESHDESK__EMULATOR_BASE_URL="$EMU_URL" DESKBRIDGE_FRESHDESK__EMULATOR_CA_PATH="$CA" RUST_LOG=warn
DESKBRIDGE_ADMIN_PASSWORD="benchmark passphrase" ./target/release/deskbridge admin create-org --name Bench --email bench@example.org >/dev/null
./target/release/deskbridge serve > "$W/server.log" 2>&1 &
SRV=$!
B="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$B/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$SRV/status"; }
IDLE=$(rss)
COOKIE=$(curl -s -i -d "email=bench@example.org&password=benchmark passphrase" "$B/login" | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}' | tr -d '\r')
CSRF=$(curl -s -H "Cookie: $COOKIE" "$B/dashboard" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
curl -s -o /dev/null -H "Cookie: $COOKIE" --data-urlencode "csrf=$CSRF" --data-urlencode "domain=acme" --data-urlencode "api_key=$KEY" "$B/settings/integrations/freshdesk/connect"
echo "idle RSS: $IDLE MB (target < 50 MB)"
for path in /healthz /settings/integrations /api/v1/integrations; do
  wrk -t2 -c50 -d15s --latency -H "Cookie: $COOKIE" "$B$path" > "$W/wrk.txt"
  p50=$(awk '$1=="50%" {print $2}' "$W/wrk.txt"); p99=$(awk '$1=="99%" {print $2}' "$W/wrk.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' "$W/wrk.txt"); non2xx=$(awk '/Non-2xx/ {print $5}' "$W/wrk.txt")
  echo "$path: p50 $p50, p99 $p99, $rps req/s${non2xx:+, non-2xx $non2xx}"
done
echo "RSS after load: $(rss) MB"
