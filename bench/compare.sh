#!/usr/bin/env bash
# bench/compare.sh: shoal and Redis side by side, with the same client
# settings, in one run on this machine (issue 5, item 4). Started by a user,
# never by `make test`; it builds nothing (run `make build` first).
#
#   bench/compare.sh                      # 30 s per case, appends to doc/perf.md
#   DURATION=5 APPEND=0 bench/compare.sh  # a quick look, nothing appended
#
# Cases (workload a: 50 % read / 50 % update; 100,000 keys, zipfian; 100 B
# values; every key written once by a separate --load run first):
#   1. shoal, one node, n=1 w=1 r=1
#   2. shoal, 3-node ring, n=3 w=2 r=2
#   3. shoal, the same ring, open loop at half of case 2's ops/s (the
#      "p99 at half of peak" target)
#   4. redis-server alone (--save "" --appendonly no)
#   5. Redis primary + 2 replicas (replicaof), WAIT 1 after each write
# Client: `shoal bench` is single-threaded and saturates a core at about
# 70k ops/s against Redis, so every case runs it as 2 processes of 32
# connections (64 in all) side by side: ops/s is the sum of the two, p50 and
# p99 are the larger of the two processes' values (a conservative merge: the
# true percentile of the union lies between the two).
#
# Environment:
#   BIN_DIR       where shoal and shoald are (default: build/bin)
#   DURATION      seconds per case (default 30)
#   PERF_MD       the file the dated section is appended to (doc/perf.md)
#   APPEND=0      print only, append nothing
#   KEEP=1        keep the work directory (logs, JSON, CSV) after the run
#   REDIS_SERVER / REDIS_CLI   the Redis binaries (default: from PATH)
#   BUILD_NOTE    how the binaries were built, for the report (default: BIN_DIR
#                 and the repository's commit)
#
# Every server is started here on free ports under a temporary directory and
# stopped on exit (also on Ctrl-C or an error).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
DURATION=${DURATION:-30}
PERF_MD=${PERF_MD:-$ROOT/doc/perf.md}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
BUILD_NOTE=${BUILD_NOTE:-}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}

# The client settings shared by every case.
KEYS=100000
VALUE_SIZE=100
DISTRIBUTION=zipfian
WORKLOAD=a
PROCS=2
CONNS_PER_PROC=32

SHOAL=$BIN_DIR/shoal
die() { echo "compare: $*" >&2; exit 1; }
log() { echo "compare: $*" >&2; }

[[ -x $SHOAL ]] || die "no $SHOAL (build first, or set BIN_DIR)"
[[ -x $BIN_DIR/shoald ]] || die "no $BIN_DIR/shoald (build first, or set BIN_DIR)"
command -v "$REDIS_SERVER" >/dev/null || die "no $REDIS_SERVER on PATH"
command -v "$REDIS_CLI" >/dev/null || die "no $REDIS_CLI on PATH"
command -v python3 >/dev/null || die "python3 is needed"
[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DURATION must be a number of seconds"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-compare.XXXXXX")
RINGS=()        # ring directories to bring down
REDIS_PIDS=()   # redis-server processes to stop
BENCH_PIDS=()   # bench client processes still running

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid dir
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for dir in "${RINGS[@]}"; do
    "$SHOAL" ring down --dir "$dir" >/dev/null 2>&1 || true
  done
  for pid in "${REDIS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${REDIS_PIDS[@]}" "${BENCH_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $KEEP == 1 || $rc != 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# True when nothing listens on (or holds) 127.0.0.1:PORT.
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# Sets REDIS_PORT to a free port (never one handed out before in this run).
NEXT_REDIS_PORT=26400
free_redis_port() {
  local p
  for ((p = NEXT_REDIS_PORT; p < 60000; p++)); do
    if port_free "$p"; then NEXT_REDIS_PORT=$((p + 1)); REDIS_PORT=$p; return 0; fi
  done
  die "no free port for Redis"
}

# ---- shoal -----------------------------------------------------------------

# ring_up NAME NODES N W R: starts a fresh ring in RING_DIR=$WORK/NAME.
ring_up() {
  local name=$1 nodes=$2 n=$3 w=$4 r=$5 dir base
  dir=$WORK/$name
  RING_DIR=$dir
  base=$(free_ring_base "$nodes" 27100)
  RINGS+=("$dir")
  "$SHOAL" ring up --dir "$dir" --nodes "$nodes" --n "$n" --w "$w" --r "$r" \
    --base-port "$base" --fresh >"$WORK/$name.up.log" 2>&1 ||
    { cat "$WORK/$name.up.log" >&2; die "ring up $name failed"; }
}

ring_down() {
  "$SHOAL" ring down --dir "$1" >/dev/null 2>&1 || true
  rm -rf "$1"/n*/data
}

# RssAnon of every node of the ring in DIR, "n1=12.3 MB n2=..." .
ring_rss() {
  "$SHOAL" ring status --dir "$1" --json | python3 -c '
import json, sys
out = []
for node in json.load(sys.stdin)["nodes"]:
    rss = "?"
    try:
        with open("/proc/%d/status" % node["pid"]) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    rss = "%.1f MB" % (int(line.split()[1]) / 1024)
    except (OSError, TypeError):
        pass
    out.append("%s=%s" % (node["name"], rss))
print(" ".join(out))'
}

# ---- redis -----------------------------------------------------------------

# redis_start PORT [replicaof PRIMARY_PORT]: a redis-server without
# persistence, on 127.0.0.1, in the foreground of a background job.
redis_start() {
  local port=$1 dir=$WORK/redis-$1
  shift
  mkdir -p "$dir"
  local extra=()
  if [[ $# -gt 0 ]]; then extra=(--replicaof 127.0.0.1 "$2"); fi
  "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no "${extra[@]}" &
  REDIS_PIDS+=($!)
  local i
  for ((i = 0; i < 100; i++)); do
    if [[ $("$REDIS_CLI" -p "$port" ping 2>/dev/null) == PONG ]]; then return 0; fi
    sleep 0.1
  done
  tail -20 "$dir/redis.log" >&2 || true
  die "redis-server on port $port did not answer"
}

redis_stop_all() {
  local pid
  for pid in "${REDIS_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${REDIS_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  REDIS_PIDS=()
}

# Waits until the primary on PORT has N replicas online.
redis_wait_replicas() {
  local port=$1 want=$2 i online
  for ((i = 0; i < 300; i++)); do
    online=$("$REDIS_CLI" -p "$port" info replication 2>/dev/null |
      grep -c '^slave[0-9]*:.*state=online' || true)
    if [[ $online -ge $want ]]; then return 0; fi
    sleep 0.1
  done
  die "Redis on port $port: $online of $want replicas online after 30 s"
}

# ---- the bench client --------------------------------------------------------

COMMON=(--workload "$WORKLOAD" --keys "$KEYS" --value-size "$VALUE_SIZE"
  --distribution "$DISTRIBUTION")

# load CASE TARGET_ARGS...: writes every key once (one process, 64
# connections); not measured.
load() {
  local case=$1
  shift
  log "$case: loading $KEYS keys"
  "$SHOAL" bench "$@" "${COMMON[@]}" --load --ops 1 \
    --concurrency $((PROCS * CONNS_PER_PROC)) --seed 1000 --json \
    >"$WORK/$case.load.json" 2>"$WORK/$case.load.err" ||
    { tail -5 "$WORK/$case.load.err" >&2; die "$case: load failed"; }
  python3 - "$WORK/$case.load.json" <<'PY' >&2
import json, sys
load = json.load(open(sys.argv[1])).get("load", {})
errors = sum(load.get("errors", {}).values())
print("compare:   loaded %s keys in %.1f s, %d errors" %
      (load.get("keys"), load.get("duration_s", 0), errors))
PY
}

# measure CASE LABEL TARGET_ARGS...: PROCS bench processes side by side,
# CONNS_PER_PROC connections each, DURATION seconds; one result row in
# $WORK/results.jsonl. Extra bench flags go in the array MEASURE_EXTRA
# (e.g. --rate R, per process).
MEASURE_EXTRA=()
measure() {
  local case=$1 label=$2
  shift 2
  log "$case: $PROCS processes x $CONNS_PER_PROC connections, $DURATION s"
  local i
  BENCH_PIDS=()
  for ((i = 1; i <= PROCS; i++)); do
    "$SHOAL" bench "$@" "${COMMON[@]}" --concurrency "$CONNS_PER_PROC" \
      --duration "$DURATION" --seed "$i" "${MEASURE_EXTRA[@]}" \
      --json --csv "$WORK/$case.$i.csv" \
      >"$WORK/$case.$i.json" 2>"$WORK/$case.$i.err" &
    BENCH_PIDS+=($!)
  done
  local failed=0 pid
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" || failed=1; done
  BENCH_PIDS=()
  if [[ $failed == 1 ]]; then
    for ((i = 1; i <= PROCS; i++)); do tail -3 "$WORK/$case.$i.err" >&2 || true; done
    die "$case: a bench process failed"
  fi
  python3 - "$WORK" "$case" "$label" "$PROCS" "${EXTRA_NOTE:-}" <<'PY' >>"$WORK/results.jsonl"
import csv, json, sys
work, case, label, procs, note = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
row = {"case": case, "label": label, "ops_per_s": 0.0, "p50_ms": 0.0,
       "p99_ms": 0.0, "errors": 0, "shed": 0, "context_reads": 0,
       "per_process": [], "note": note}
for i in range(1, procs + 1):
    doc = json.load(open("%s/%s.%d.json" % (work, case, i)))
    total = None
    with open("%s/%s.%d.csv/summary.csv" % (work, case, i)) as f:
        for r in csv.DictReader(f):
            if r["op"] == "total":
                total = r
    p50 = float(total["p50_us"]) / 1000
    p99 = float(total["p99_us"]) / 1000
    row["ops_per_s"] += doc["ops_per_s"]
    row["p50_ms"] = max(row["p50_ms"], p50)
    row["p99_ms"] = max(row["p99_ms"], p99)
    row["errors"] += sum(doc.get("errors", {}).values())
    row["shed"] += doc.get("shed", 0)
    row["context_reads"] += doc.get("context_reads", 0)
    row["per_process"].append({"ops_per_s": doc["ops_per_s"], "p50_ms": p50,
                               "p99_ms": p99, "errors": doc.get("errors", {})})
print(json.dumps(row))
PY
  python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("compare:   %.0f ops/s, p50 %.3f ms, p99 %.3f ms, errors %d" %
      (r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["errors"]))' "$WORK/results.jsonl" >&2
}

# ---- the run -------------------------------------------------------------------

: >"$WORK/results.jsonl"
STARTED=$(date '+%Y-%m-%d %H:%M:%S %Z')
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory $WORK; $DURATION s per case; load average at start $LOADAVG"
OTHERS=$(pgrep -c -x 'shoald|redis-server' || true)
if [[ $OTHERS -gt 0 ]]; then
  log "warning: $OTHERS shoald/redis-server processes not started by this script are running"
fi

# 1. shoal, one node, n=1.
ring_up single 1 1 1 1
dir=$RING_DIR
load shoal1 --dir "$dir" --w 1 --r 1
measure shoal1 "shoal, 1 node, n=1 w=1 r=1" --dir "$dir" --w 1 --r 1
RSS_SINGLE=$(ring_rss "$dir")
ring_down "$dir"

# 2, 3. shoal, 3 nodes, n=3 w=2 r=2: closed loop, then open loop at half of
# the closed loop's ops/s (split over the two processes).
ring_up ring3 3 3 2 2
dir=$RING_DIR
load shoal3 --dir "$dir" --w 2 --r 2
measure shoal3 "shoal, 3 nodes, n=3 w=2 r=2" --dir "$dir" --w 2 --r 2
PEAK3=$(python3 -c 'import json,sys; print(int([json.loads(l) for l in open(sys.argv[1])][-1]["ops_per_s"]))' "$WORK/results.jsonl")
HALF3=$((PEAK3 / 2))
MEASURE_EXTRA=(--rate $((HALF3 / PROCS)))
EXTRA_NOTE="open loop, $HALF3 ops/s requested"
measure shoal3half "shoal, 3 nodes, open loop at 1/2 peak" --dir "$dir" --w 2 --r 2
MEASURE_EXTRA=()
EXTRA_NOTE=
RSS_RING3=$(ring_rss "$dir")
ring_down "$dir"

# 4. redis-server alone.
free_redis_port
port=$REDIS_PORT
redis_start "$port"
load redis1 --target "redis://127.0.0.1:$port"
measure redis1 "redis-server alone" --target "redis://127.0.0.1:$port"
redis_stop_all

# 5. Redis primary + 2 replicas, WAIT 1 after each write.
free_redis_port
primary=$REDIS_PORT
redis_start "$primary"
for replica in 1 2; do
  free_redis_port
  redis_start "$REDIS_PORT" replicaof "$primary"
done
redis_wait_replicas "$primary" 2
load redis3 --target "redis://127.0.0.1:$primary" --redis-wait 1
measure redis3 "Redis primary + 2 replicas, WAIT 1" \
  --target "redis://127.0.0.1:$primary" --redis-wait 1
redis_stop_all

# ---- report ------------------------------------------------------------------

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
NCPU=$(nproc)
KERNEL=$(uname -r)
REDIS_VERSION=$("$REDIS_SERVER" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (the working tree has uncommitted changes)' || true)

export STARTED CPU NCPU KERNEL REDIS_VERSION COMMIT DIRTY DURATION KEYS VALUE_SIZE \
  DISTRIBUTION WORKLOAD PROCS CONNS_PER_PROC LOADAVG RSS_SINGLE RSS_RING3 BIN_DIR BUILD_NOTE
python3 - "$WORK/results.jsonl" "$WORK/report.txt" "$WORK/report.md" <<'PY'
import json, os, sys
rows = {r["case"]: r for r in map(json.loads, open(sys.argv[1]))}
e = os.environ
def build_note(e):
    if e.get("BUILD_NOTE"):
        return e["BUILD_NOTE"]
    return "binaries in %s; repository at %s%s" % (e["BIN_DIR"], e["COMMIT"], e["DIRTY"])
order = ["shoal1", "shoal3", "shoal3half", "redis1", "redis3"]

def ratio(a, b):
    return rows[a]["ops_per_s"] / rows[b]["ops_per_s"] if rows[b]["ops_per_s"] else float("nan")

ratios = [
    ("shoal n=1 / redis alone", ratio("shoal1", "redis1")),
    ("shoal 3 nodes / redis alone", ratio("shoal3", "redis1")),
    ("shoal 3 nodes / Redis + 2 replicas WAIT 1", ratio("shoal3", "redis3")),
    ("shoal n=1 / Redis + 2 replicas WAIT 1", ratio("shoal1", "redis3")),
]

def errors(r):
    s = str(r["errors"])
    if r["shed"]:
        s += " (shed %d)" % r["shed"]
    return s

# Text table for the terminal.
w = max(len(rows[c]["label"]) for c in order)
lines = ["%-*s %12s %9s %9s %8s" % (w, "case", "ops/s", "p50 ms", "p99 ms", "errors")]
for c in order:
    r = rows[c]
    lines.append("%-*s %12.0f %9.3f %9.3f %8s" % (w, r["label"], r["ops_per_s"],
                 r["p50_ms"], r["p99_ms"], errors(r)))
lines.append("")
for name, x in ratios:
    lines.append("%-45s %.2fx" % (name + ":", x))
lines.append("open-loop case: %s" % rows["shoal3half"]["note"])
lines.append("RssAnon after the runs: n=1 %s; 3-node %s" % (e["RSS_SINGLE"], e["RSS_RING3"]))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")

# Markdown section for doc/perf.md.
md = []
md.append("### compare.sh, %s" % e["STARTED"])
md.append("")
md.append("- Machine: %s, %s CPUs (nproc), kernel %s; load average at start %s." %
          (e["CPU"], e["NCPU"], e["KERNEL"], e["LOADAVG"]))
md.append("- shoal: %s; Redis %s." % (build_note(e), e["REDIS_VERSION"]))
md.append("- Client: workload %s (50 %% read / 50 %% update), %s keys %s, %s B values, "
          "every key loaded once first; %s bench processes x %s connections (closed loop), "
          "%s s per case; ops/s summed over the processes, p50/p99 the larger of the "
          "processes' values." % (e["WORKLOAD"], "{:,}".format(int(e["KEYS"])), e["DISTRIBUTION"],
          e["VALUE_SIZE"], e["PROCS"], e["CONNS_PER_PROC"], e["DURATION"]))
md.append("- shoal rings: `shoal ring up` defaults otherwise (sync periodic, 64 partitions); "
          "Redis: `--save \"\" --appendonly no`, replicas with `--replicaof`.")
md.append("")
md.append("| case | ops/s | p50 ms | p99 ms | errors |")
md.append("|---|---:|---:|---:|---:|")
for c in order:
    r = rows[c]
    label = r["label"] + (" (%s)" % r["note"] if r["note"] else "")
    md.append("| %s | %s | %.3f | %.3f | %s |" % (label, "{:,.0f}".format(r["ops_per_s"]),
              r["p50_ms"], r["p99_ms"], errors(r)))
md.append("")
md.append("| ratio (ops/s) | |")
md.append("|---|---:|")
for name, x in ratios:
    md.append("| %s | %.2f× |" % (name, x))
md.append("")
md.append("Per process (ops/s, p50, p99 ms): " + "; ".join(
    "%s: %s" % (c, ", ".join("%.0f/%.3f/%.3f" % (p["ops_per_s"], p["p50_ms"], p["p99_ms"])
                             for p in rows[c]["per_process"])) for c in order) + ".")
md.append("shoal context reads (gets before writes to keys with siblings): " + ", ".join(
    "%s %d" % (c, rows[c]["context_reads"]) for c in ["shoal1", "shoal3", "shoal3half"]) + ".")
md.append("RssAnon after the runs: n=1 node %s; 3-node ring %s." % (e["RSS_SINGLE"], e["RSS_RING3"]))
md.append("")
open(sys.argv[3], "w").write("\n".join(md) + "\n")
PY

echo
cat "$WORK/report.txt"
if [[ $APPEND == 1 ]]; then
  [[ -f $PERF_MD ]] || printf '# Performance\n\n' >"$PERF_MD"
  { echo; cat "$WORK/report.md"; } >>"$PERF_MD"
  log "appended to $PERF_MD"
fi
