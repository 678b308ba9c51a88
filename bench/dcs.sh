#!/usr/bin/env bash
# bench/dcs.sh: a ring in two datacenters with a WAN between them
# (doc/impl.md, "Datacenters and racks"). Started by a user, never by
# `make test`; it builds nothing.
#
#   bench/dcs.sh                      # appends a dated section to doc/perf.md
#   APPEND=0 DURATION=5 bench/dcs.sh
#
# `shoal ring up --dcs 2 --nodes 6 --n 3`: n1-n3 in dc1, n4-n6 in dc2, three
# replicas in each. KEYS keys of 100 B are loaded, then every link between
# the datacenters is delayed by DELAY each way (`shoal fault delay
# 'dc1<->dc2'`), and `shoal bench --workload a` (50 % reads, 50 % updates,
# zipfian, closed loop, 16 connections to dc1's nodes) runs DURATION seconds
# at each of local_quorum, quorum and each_quorum.
# Reported per level: ops/s, read and update p50/p99 of successful
# requests, errors; and, from n1's /metrics, the mean ack lag of its puts'
# replicas per datacenter (shoal_write_replica_lag_seconds{dc}).
#
# Environment: BIN_DIR (build/bin), PERF_MD (doc/perf.md), APPEND (1),
# KEEP (0), KEYS (100000), DURATION (20), DELAY (50ms), BUILD_NOTE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
PERF_MD=${PERF_MD:-$ROOT/doc/perf.md}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
KEYS=${KEYS:-100000}
DURATION=${DURATION:-20}
DELAY=${DELAY:-50ms}
BUILD_NOTE=${BUILD_NOTE:-}

SHOAL=$BIN_DIR/shoal
die() { echo "dcs: $*" >&2; exit 1; }
log() { echo "dcs: $*" >&2; }
[[ -x $SHOAL && -x $BIN_DIR/shoald ]] || die "no shoal/shoald in $BIN_DIR (build first, or set BIN_DIR)"
"$SHOAL" bench --help 2>/dev/null | grep -q -- '--level' || die "$SHOAL has no 'bench --level' (rebuild)"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ring_bench_work dcs
BASE=$(free_ring_base 6 29700)

log "two datacenters of 3 nodes, n=3 in each, on base port $BASE"
"$SHOAL" ring up --dir "$RING" --dcs 2 --nodes 6 --n 3 --base-port "$BASE" --fresh \
  >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "ring up failed"; }
RING_STARTED=1
log "loading $KEYS keys"
"$SHOAL" bench --dir "$RING" --load --workload w --keys "$KEYS" --value-size 100 \
  --ops 1 --concurrency 32 --seed 1700 --json >"$WORK/load.json" 2>"$WORK/load.err" ||
  { tail -5 "$WORK/load.err" >&2; die "load failed"; }

export STARTED_AT="$(date '+%Y-%m-%d %H:%M %Z')" CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (the working tree has uncommitted changes)' || true)" \
  SHOAL RING WORK KEYS DURATION DELAY BUILD_NOTE

python3 - <<'PY' || die "a run failed"
import json, os, re, subprocess, sys, urllib.request

e = os.environ
SHOAL, RING, WORK = e["SHOAL"], e["RING"], e["WORK"]
KEYS, DURATION, DELAY = int(e["KEYS"]), int(e["DURATION"]), e["DELAY"]


def say(text):
    print("dcs: " + text, file=sys.stderr, flush=True)


def shoal(*args, timeout=120):
    p = subprocess.run([SHOAL, *args, "--dir", RING, "--json"], capture_output=True,
                       timeout=timeout, text=True)
    if p.returncode != 0:
        raise SystemExit(f"shoal {' '.join(args)} failed: {p.stderr.strip()} {p.stdout[:300]}")
    return json.loads(p.stdout)


status = shoal("ring", "status")
nodes = {n["name"]: n for n in status["nodes"]}
dc1 = [n for n in sorted(nodes) if nodes[n].get("dc") == "dc1"]
n1_metrics = nodes[dc1[0]]["metrics_address"]


def lag_totals():
    """(sum, count) of n1's replica ack lag per dc label."""
    text = urllib.request.urlopen(f"http://{n1_metrics}/metrics", timeout=10).read().decode()
    out = {}
    for m in re.finditer(r'^shoal_write_replica_lag_seconds_(sum|count)\{dc="(\w+)"\} (\S+)$',
                         text, re.M):
        kind, dc, value = m.groups()
        out.setdefault(dc, [0.0, 0.0])[0 if kind == "sum" else 1] = float(value)
    return out


shoal("fault", "delay", "dc1<->dc2", DELAY)
rows = []
seed = 1701
addresses = ",".join(nodes[n]["address"] for n in dc1)
for level in ("local_quorum", "quorum", "each_quorum"):
    say(f"{level}: {DURATION} s against {', '.join(dc1)}")
    before = lag_totals()
    rep = shoal("bench", "--workload", "a", "--keys", str(KEYS), "--duration", str(DURATION),
                "--concurrency", "16", "--level", level, "--nodes", addresses,
                "--seed", str(seed), timeout=DURATION + 120)
    after = lag_totals()
    seed += 1
    with open(os.path.join(WORK, f"run-{level}.json"), "w") as f:
        json.dump(rep, f)
    ops = rep["operations"]

    def q(name, p):
        return ops[name]["ok"][p] / 1000

    def mean_lag(dc):
        s = after.get(dc, [0, 0])[0] - before.get(dc, [0, 0])[0]
        c = after.get(dc, [0, 0])[1] - before.get(dc, [0, 0])[1]
        return f"{s / c * 1000:.1f}" if c else "-"

    errs = ", ".join(f"{k} {v:,}" for k, v in sorted(rep["errors"].items())) or "none"
    rows.append(f"| {level} | {rep['ops_per_s']:,.0f} | "
                f"{q('read', 'p50_us'):.2f} / {q('read', 'p99_us'):.2f} | "
                f"{q('write', 'p50_us'):.2f} / {q('write', 'p99_us'):.2f} | "
                f"{mean_lag('dc1')} / {mean_lag('dc2')} | {errs} |")
    say(rows[-1])
shoal("fault", "heal")

note = e.get("BUILD_NOTE") or ""
section = [
    "",
    f"### dcs.sh, {e['STARTED_AT']}",
    "",
    f"Commit {e['COMMIT']}{e['DIRTY']}{(', ' + note) if note else ''}; {e['CPU']}. "
    f"Two datacenters of 3 nodes on one machine (`ring up --dcs 2 --nodes 6 --n 3`: 3 "
    f"replicas in each), every link between them delayed {DELAY} each way; {KEYS:,} keys "
    f"of 100 B, `shoal bench --workload a` (50 % reads, 50 % updates, zipfian), closed "
    f"loop, 16 connections to dc1's nodes, {DURATION} s per level. Latencies in ms, "
    "successful requests; ack lag: the mean of n1's `shoal_write_replica_lag_seconds` per "
    "replica datacenter over the run, in ms.",
    "",
    "| level | ops/s | read p50 / p99 | update p50 / p99 | ack lag dc1 / dc2 | errors |",
    "|---|---:|---:|---:|---:|---|",
    *rows,
    "",
]
with open(os.path.join(WORK, "section.md"), "w") as f:
    f.write("\n".join(section))
print("\n".join(section))
PY

if [[ $APPEND == 1 ]]; then
  cat "$WORK/section.md" >>"$PERF_MD"
  log "appended to $PERF_MD"
fi
