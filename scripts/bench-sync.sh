#!/usr/bin/env bash
# Sync benchmark, side by side in one run on the same seeded emulators:
#   1. unthrottled backfill (--plan unlimited): deskbridge, tap-freshdesk and Airbyte's source on
#      PEER_TICKETS tickets (same data, peers with their default streams: tickets, conversations,
#      contacts, companies, agents, groups; deskbridge with all of its streams), then deskbridge
#      alone on TICKETS tickets to show its memory does not grow with the help desk;
#   2. rate-limited backfill (--plan growth --minute-secs 2, RL_TICKETS tickets): credits, 429s
#      and wall time of deskbridge and Airbyte, against the floor (credits / allowed rate);
#   3. incremental after 1% of the tickets change: credits deskbridge spends.
# usage: scripts/bench-sync.sh [unthrottled|ratelimited|incremental|all]   (default all)
# env: TICKETS (100000), PEER_TICKETS (20000), RL_TICKETS (20000), SKIP_PEERS=1, SHARED (../shared)
# Prints one line per run; the raw outputs stay in the work directory it names.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
TICKETS=${TICKETS:-100000}
PEER_TICKETS=${PEER_TICKETS:-20000}
RL_TICKETS=${RL_TICKETS:-20000}
SHARED=${SHARED:-../shared}
W=$(mktemp -d /tmp/bench-sync.XXXXXX)
echo "work directory: $W"
cargo build --release -q -p deskbridge -p freshdesk-emulator
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

# start_emulator NAME ARGS...: starts an emulator, sets PORT KEY CA TOKEN URL
start_emulator() {
  local name=$1
  shift
  ./target/release/freshdesk-emulator --listen 127.0.0.1:0 --cert-dir "$W/$name-certs" \
    --ready-file "$W/$name.json" "$@" > "$W/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 600); do [ -s "$W/$name.json" ] && break; sleep 0.1; done
  read -r PORT KEY CA TOKEN URL < <(python3 -c "import json; r=json.load(open('$W/$name.json')); print(r['port'], r['agents'][1]['api_key'], r['ca_pem'], r['control_token'], r['base_url'])")
}
ctl() { curl -sf --cacert "$CA" -H "X-Emulator-Control: $TOKEN" "$URL/_emulator/$1" "${@:2}"; }
seq_now() { ctl "requests?since=0" | python3 -c "import json,sys; l=json.load(sys.stdin); print(max([e['seq'] for e in l] or [0]))"; }
# credits SINCE: "calls credits 429s" made after request SINCE
credits() {
  ctl "requests?since=$1" | python3 -c "import json,sys; l=json.load(sys.stdin); print(len(l), sum(e.get('credits',1) for e in l), sum(1 for e in l if e['status']==429))"
}

# deskbridge_env NAME WINDOW: a fresh database connected to the current emulator
deskbridge_env() {
  export DESKBRIDGE_DATABASE__URL="sqlite://$W/$1.db" \
    DESKBRIDGE_VAULT__MASTER_KEYS="1:$(head -c 32 /dev/urandom | base64)" \
    DESKBRIDGE_FRESHDESK__EMULATOR_BASE_URL="$URL" DESKBRIDGE_FRESHDESK__EMULATOR_CA_PATH="$CA" \
    DESKBRIDGE_FRESHDESK__RATE_WINDOW_SECS="$2" RUST_LOG=warn
  DESKBRIDGE_ADMIN_PASSWORD="benchmark passphrase" ./target/release/deskbridge admin create-org --name Bench --email "bench@example.org" > /dev/null
  DESKBRIDGE_FRESHDESK_API_KEY="$KEY" ./target/release/deskbridge admin connect --email bench@example.org --domain acme > /dev/null
}

# deskbridge_run LABEL: one foreground sync; prints wall, peak RSS, tickets/s, credits
deskbridge_run() {
  local label=$1 before out
  before=$(seq_now)
  /usr/bin/time -f "%e %M %U %S" -o "$W/$label.time" ./target/release/deskbridge sync --org 1 --integration 1 > "$W/$label.out" 2> "$W/$label.err"
  read -r wall rss cpu_user cpu_sys < "$W/$label.time"
  read -r calls creds throttled < <(credits "$before")
  tickets=$(python3 -c "import sqlite3; print(sqlite3.connect('$W/${DB}.db').execute('select count(*) from fd_tickets').fetchone()[0])")
  printf 'deskbridge %-22s wall_s=%s peak_rss_mb=%.0f tickets=%s tickets_per_s=%.0f calls=%s credits=%s 429s=%s cpu_user_s=%s cpu_sys_s=%s\n' \
    "$label" "$wall" "$(echo "$rss/1024" | bc -l)" "$tickets" "$(echo "$tickets/$wall" | bc -l)" "$calls" "$creds" "$throttled" "$cpu_user" "$cpu_sys"
}

peer_run() { # PEER LABEL
  local before
  before=$(seq_now)
  OUT="$W/$2" bash "$SHARED/tools/peer-sync.sh" "$1" "$PORT" "$KEY" "$CA" > "$W/$2.summary" 2> "$W/$2.stderr" || true
  read -r calls creds throttled < <(credits "$before")
  echo "$1 $2 $(grep "^peer=" "$W/$2.summary" || tail -1 "$W/$2.summary") calls=$calls credits=$creds 429s=$throttled"
}

if [[ $WHAT == all || $WHAT == unthrottled || $WHAT == incremental ]]; then
  start_emulator small --tickets "$PEER_TICKETS" --plan unlimited
  DB=small
  deskbridge_env small 60
  deskbridge_run "backfill-$PEER_TICKETS"
  if [[ $WHAT != unthrottled ]]; then
    # 1% of the tickets change: a subject edit, and a customer message on every other one.
    ctl "export?only=tickets" | python3 -c "
import json,sys
t=[x['id'] for x in json.load(sys.stdin)['tickets'] if not x['spam'] and x['_emulator']['trash']=='live']
print('\n'.join(map(str,t[:len(t)//100])))" > "$W/changed.txt"
    i=0
    while read -r id; do
      ctl "tickets/$id" -X PUT -H 'content-type: application/json' -d '{"subject":"changed for the incremental benchmark"}' > /dev/null
      if (( i % 2 == 0 )); then ctl "tickets/$id/conversations" -H 'content-type: application/json' -d '{"body":"any news?"}' > /dev/null; fi
      i=$((i + 1))
    done < "$W/changed.txt"
    echo "changed $(wc -l < "$W/changed.txt") tickets"
    deskbridge_run "incremental-1pct"
  fi
  if [[ $WHAT != incremental && -z ${SKIP_PEERS:-} ]]; then
    peer_run tap "tap-$PEER_TICKETS"
    peer_run airbyte "airbyte-$PEER_TICKETS"
  fi
  kill "${PIDS[-1]}"
  if [[ $WHAT != incremental && $TICKETS != "$PEER_TICKETS" ]]; then
    start_emulator big --tickets "$TICKETS" --plan unlimited
    DB=big
    deskbridge_env big 60
    deskbridge_run "backfill-$TICKETS"
    kill "${PIDS[-1]}"
  fi
fi

if [[ $WHAT == all || $WHAT == ratelimited ]]; then
  start_emulator limited --tickets "$RL_TICKETS" --plan growth --minute-secs 2
  DB=limited
  deskbridge_env limited 2
  deskbridge_run "growth-$RL_TICKETS"
  # Growth: 200 credits a minute (here every 2 s); deskbridge may use half.
  read -r wall _ < "$W/growth-$RL_TICKETS.time"
  echo "floor at a 50% share of 200 credits per 2 s: credits / 50 per second (see the credits above)"
  if [[ -z ${SKIP_PEERS:-} ]]; then
    ctl "rate/reset" -X POST > /dev/null
    peer_run airbyte "airbyte-growth-$RL_TICKETS"
  fi
  kill "${PIDS[-1]}"
fi
