#!/usr/bin/env bash
# Scale-out benchmark on PostgreSQL (TEST_DATABASE_URL, default the local `test` database):
# DESKS help desks (default 200) of mixed sizes around TICKETS tickets (default 300, the
# emulator's spread of 3x either way) backfilled by 1 and then 3 `deskbridge worker` processes
# (3 jobs each), side by side; then the job queue alone (claims per second with 1, 4 and 16
# claimers over JOBS queued jobs, default 100,000). Each line is one run's figures.
# usage: scripts/bench-scale.sh        env: DESKS, TICKETS, JOBS, TEST_DATABASE_URL
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export DESKS=${DESKS:-200} TICKETS=${TICKETS:-300} JOBS=${JOBS:-100000}
cargo build --release -q -p deskbridge
for workers in 1 3; do
  WORKERS=$workers cargo test --release -q -p deskbridge --test api \
    scale::measure_the_backfill_of_many_help_desks -- --ignored --nocapture 2>&1 | grep -E '^(desks=|incremental)'
done
cargo test --release -q -p deskbridge --test api scale::measure_queue_claims -- --ignored --nocapture 2>&1 \
  | grep '^queued='
