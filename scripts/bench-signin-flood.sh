#!/usr/bin/env bash
# A flood of bad sign-ins against one `deskbridge serve` on loopback (SQLite), and what it costs
# the server: peak RSS (VmHWM), RSS afterwards, database growth, and the answers it gave.
#
#   scripts/bench-signin-flood.sh [BINARY ...]
#
# Each binary (default: target/release/deskbridge) gets a fresh database and the same workload:
# ROUNDS rounds of CONCURRENCY (default 100) simultaneous sign-ins, each with a random email and
# a random X-Forwarded-For (the worst case: a guesser spread over many addresses; the server is
# told to trust loopback as its proxy, which a pre-fix binary ignores and trusts anyway), then 10
# sign-ins with a 1.9 MB email. Pass an older build beside the current one to compare, e.g.
#   git worktree add /tmp/old <rev> && (cd /tmp/old && cargo build --release -p deskbridge)
#   scripts/bench-signin-flood.sh /tmp/old/target/release/deskbridge target/release/deskbridge
# Traffic goes to 127.0.0.1 only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
CONCURRENCY=${CONCURRENCY:-100}
ROUNDS=${ROUNDS:-1}
BINARIES=("$@")
[ ${#BINARIES[@]} -gt 0 ] || BINARIES=(target/release/deskbridge)

printf '%-40s %10s %10s %10s %10s  %s\n' binary idle_MB peak_MB after_MB db_KB answers
for bin in "${BINARIES[@]}"; do
  dir=$(mktemp -d)
  port=$((20000 + RANDOM % 20000))
  key="1:$(head -c 32 /dev/urandom | base64)"
  start() {
    env DESKBRIDGE_SERVER__LISTEN="127.0.0.1:$port" \
      DESKBRIDGE_DATABASE__URL="sqlite://$dir/bench.db" \
      DESKBRIDGE_VAULT__MASTER_KEYS="$key" \
      DESKBRIDGE_SYNC__ENABLED=false \
      RUST_LOG=warn "$@" \
      "$bin" serve >"$dir/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && return 0
      kill -0 "$pid" 2>/dev/null || return 1
      sleep 0.1
    done
    return 1
  }
  # A build from before server.trusted_proxies refuses the key (and trusts the header anyway).
  start DESKBRIDGE_SERVER__TRUSTED_PROXIES=127.0.0.1 || start || {
    echo "$bin did not start:"; tail -5 "$dir/server.log"; exit 1
  }
  rss() { awk "/^$1:/ {print int(\$2/1024)}" "/proc/$pid/status"; }
  idle=$(rss VmRSS)
  answers=$(python3 - "$port" "$CONCURRENCY" "$ROUNDS" <<'PY'
import collections, random, string, sys, threading, urllib.error, urllib.parse, urllib.request
port, n, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
seen = collections.Counter()
lock = threading.Lock()
def one(email):
    ip = ".".join(str(random.randint(1, 254)) for _ in range(4))
    body = urllib.parse.urlencode({"email": email, "password": "not the password at all"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/login", data=body,
                                 headers={"X-Forwarded-For": ip, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        code = urllib.request.urlopen(req, timeout=120).status
    except urllib.error.HTTPError as e:
        code = e.code
    except Exception as e:
        code = type(e).__name__
    with lock:
        seen[code] += 1
def rand_email():
    return "".join(random.choices(string.ascii_lowercase, k=12)) + "@flood.test"
for _ in range(rounds):
    ts = [threading.Thread(target=one, args=(rand_email(),)) for _ in range(n)]
    [t.start() for t in ts]; [t.join() for t in ts]
big = "a" * int(__import__("os").environ.get("BIG_BYTES", "1900000")) + "@flood.test"
ts = [threading.Thread(target=one, args=(big,)) for _ in range(10)]
[t.start() for t in ts]; [t.join() for t in ts]
print(" ".join(f"{k}x{v}" for k, v in sorted(seen.items(), key=str)))
PY
)
  sleep 1
  peak=$(rss VmHWM)
  after=$(rss VmRSS)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  db=$(du -ck "$dir"/bench.db* | tail -n1 | cut -f1)
  printf '%-40s %10s %10s %10s %10s  %s\n' "$bin" "$idle" "$peak" "$after" "$db" "$answers"
  rm -rf "$dir"
done
