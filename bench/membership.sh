#!/usr/bin/env bash
# bench/membership.sh: what adding a fifth node to a loaded 4-node ring
# moves, how fast, and what it costs foreground requests (doc/membership.md).
# Started by a user, never by `make test`; it builds nothing (run `make
# build` first). It prints its results; nothing is appended anywhere.
#
#   bench/membership.sh
#   KEYS=200000 bench/membership.sh        # a smaller, quicker run
#
# 1. A fresh 4-node ring, n=3 w=2 r=2, PARTITIONS partitions, defaults
#    otherwise (a transfer copies at most antientropy.transfer_rate =
#    5,000 keys/s per receiving node); KEYS keys (user0..) written once with
#    `shoal bench --load` (100 B values). Wait until every node's trees are
#    ready.
# 2. "idle": a foreground run (workload a, RATE ops/s open loop, over
#    user0..user{FG_KEYS-1}, through n1..n4, DURATION s).
# 3. `shoal ring add` (time t0): n5's join is committed, n5 starts from
#    seeds and receives its partitions; the verb returns once the change is
#    complete (t1). "during": the same foreground run, started with the add.
# 4. After the change (and once the old owners dropped what they no longer
#    replicate): n5's `objects` database (`shoald dump`: storage keys +
#    stored objects) is the minimum any transfer must move; the bytes moved
#    are what the five nodes' anti-entropy exchanges carried meanwhile
#    (growth of `aae status` "bytes"; n5 counts from its start), which
#    includes the exchanges the nodes run on their own schedule.
#
# Reported: seconds from the commit to the completed change, keys and bytes
# moved per second, bytes moved / minimum, n5's share of the keys, and the
# foreground p50/p99 idle vs during (and their ratio).
#
# Environment: BIN_DIR (default build/bin), KEEP=1 (keep the work
# directory), KEYS (1000000), PARTITIONS (256), FG_KEYS (100000), RATE
# (1000), DURATION (60, seconds per foreground run), MAX_WAIT (30m, how
# long `ring add` waits).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
KEEP=${KEEP:-0}
KEYS=${KEYS:-1000000}
PARTITIONS=${PARTITIONS:-256}
FG_KEYS=${FG_KEYS:-100000}
RATE=${RATE:-1000}
DURATION=${DURATION:-60}
MAX_WAIT=${MAX_WAIT:-30m}
SHOAL=$BIN_DIR/shoal

log() { printf '[membership %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

[[ -x $SHOAL && -x $BIN_DIR/shoald ]] || die "no binaries in $BIN_DIR (run make build)"
ring_bench_work membership
BASE=$(free_ring_base 5 7600)

log "a 4-node ring (n=3 w=2 r=2, $PARTITIONS partitions) in $RING, base port $BASE"
"$SHOAL" ring up --nodes 4 --n 3 --w 2 --r 2 --partitions "$PARTITIONS" \
  --base-port "$BASE" --dir "$RING" >/dev/null
RING_STARTED=1
NODES=$(for i in 1 2 3 4; do printf '127.0.0.1:%d,' $((BASE + i)); done)
NODES=${NODES%,}

log "writing $KEYS keys (100 B values)"
"$SHOAL" bench --nodes "$NODES" --load --workload w --keys "$KEYS" --value-size 100 \
  --ops 1 --concurrency 32 --json >"$WORK/load.json"

aae_bytes() {  # the sum of `aae status` bytes over the given addresses
  local total=0 b
  for a in "$@"; do
    b=$("$SHOAL" aae status --json --node "$a" 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])' || echo 0)
    total=$((total + b))
  done
  echo "$total"
}
trees_ready() {
  for i in 1 2 3 4; do
    "$SHOAL" aae status --json --node "127.0.0.1:$((BASE + i))" | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s["trees"] > 0 and s["trees_ready"] == s["trees"] else 1)' || return 1
  done
}
log "waiting for every tree"
for _ in $(seq 1 600); do trees_ready && break; sleep 1; done

foreground() {  # NAME: a foreground run written to $WORK/NAME.json
  "$SHOAL" bench --nodes "$NODES" --workload a --keys "$FG_KEYS" --value-size 100 \
    --rate "$RATE" --duration "$DURATION" --json >"$WORK/$1.json"
}
log "idle foreground run: workload a, $RATE ops/s, ${DURATION} s"
foreground idle

ADDRS=()
for i in 1 2 3 4; do ADDRS+=("127.0.0.1:$((BASE + i))"); done
BYTES0=$(aae_bytes "${ADDRS[@]}")
log "adding n5 (foreground run alongside)"
foreground during &
FG_PID=$!
BG_PIDS+=("$FG_PID")
T0=$(date +%s.%N)
"$SHOAL" ring add --wait "$MAX_WAIT" --dir "$RING" --json >"$WORK/add.json"
T1=$(date +%s.%N)
N5=127.0.0.1:$((BASE + 5))
BYTES1=$(aae_bytes "${ADDRS[@]}" "$N5")
wait "$FG_PID"
log "change complete after $(python3 -c "print(round($T1 - $T0, 1))") s; measuring n5's share"
for _ in $(seq 1 120); do  # the old owners drop what they no longer hold
  total=0
  for a in "${ADDRS[@]}" "$N5"; do
    k=$("$SHOAL" status --json --node "$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"])')
    total=$((total + k))
  done
  [[ $total == $((KEYS * 3)) ]] && break
  sleep 1
done

python3 - "$WORK" "$RING" "$BIN_DIR" "$T0" "$T1" "$BYTES0" "$BYTES1" "$KEYS" "$RATE" <<'PY'
import json, os, subprocess, sys
work, ring, bin_dir = sys.argv[1:4]
t0, t1 = float(sys.argv[4]), float(sys.argv[5])
bytes0, bytes1, keys, rate = (int(x) for x in sys.argv[6:10])
records = size = 0
dump = subprocess.run([os.path.join(bin_dir, "shoald"), "dump", "--data-dir",
                       os.path.join(ring, "n5", "data"), "--db", "objects", "--json"],
                      capture_output=True, check=True, text=True)
for line in dump.stdout.splitlines():
    rec = json.loads(line)
    records += 1
    size += 6 + len(rec["key"]) + len(bytes.fromhex(rec["raw"]))
idle = json.load(open(os.path.join(work, "idle.json")))
during = json.load(open(os.path.join(work, "during.json")))
secs = t1 - t0
moved = bytes1 - bytes0
def p(run, q):
    return max(op[q] for op in run["operations"].values()) / 1000.0
errors = sum(sum(v.values()) if isinstance(v, dict) else v for v in during["errors"].values()) \
    if isinstance(during["errors"], dict) else during["errors"]
rows = [
    ("keys", f"{keys:,} (100 B values), 4 nodes, n=3"),
    ("n5's share after the change", f"{records:,} keys ({records / (keys * 3):.1%} of the {keys * 3:,} replicas; fair share 20 %)"),
    ("the minimum: n5's `objects` (storage keys + objects)", f"{size:,} bytes"),
    ("bytes moved (anti-entropy exchanges, 5 nodes)", f"{moved:,}"),
    ("moved / minimum", f"{moved / size:.2f}"),
    ("commit to completed change", f"{secs:.1f} s"),
    ("transfer rate", f"{records / secs:,.0f} keys/s, {size / secs / 1e6:.2f} MB/s"),
    ("foreground p50 idle / during (ms)", f"{p(idle, 'p50_us'):.2f} / {p(during, 'p50_us'):.2f}"),
    ("foreground p99 idle / during (ms)", f"{p(idle, 'p99_us'):.2f} / {p(during, 'p99_us'):.2f} ({p(during, 'p99_us') / p(idle, 'p99_us'):.2f}x)"),
    ("foreground errors during", str(errors)),
]
print("| measure | value |\n|---|---|")
for k, v in rows:
    print(f"| {k} | {v} |")
PY
