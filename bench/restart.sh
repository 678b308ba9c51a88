#!/usr/bin/env bash
# bench/restart.sh: how long a node with a large data set takes to restart
# until its anti-entropy trees are ready, after a clean stop (trees saved
# and loaded, doc/storage.md "Saved trees") and after a crash (trees rebuilt
# by a scan). Issue 15's target: under 1 s after a clean stop at 1,000,000
# keys, not growing from 1M to 4M. Started by a user, never by `make test`;
# it builds nothing.
#
#   bench/restart.sh                  # appends a dated section to doc/perf.md
#   APPEND=0 SIZES="100000" bench/restart.sh
#
# For each key count in SIZES: one fresh node (n=1 w=1 r=1, so it holds
# every key: Q=64 trees of 4096 leaves), every key written once with `shoal
# bench --load` (100 B values, 64 connections); wait until its trees are
# ready. Then ROUNDS times: `shoal ring stop n1` (SIGTERM), `shoal ring
# start n1`, and `shoal aae status` polled until every tree is ready; the
# times are taken from just before `ring start`: to `ring start` returning
# (the node answers) and to the first status that shows every tree ready.
# Then once: `shoal ring kill n1` (SIGKILL) and the same start and polling
# (a rebuild). The node's own log lines ("loaded N of N trees ... in T ms",
# "N trees built in T ms") are reported as well.
#
# The node's storage.map_size is set to MAP_SIZE (the 1 GiB default holds
# about 4M such keys and nothing more). A load with any error fails the run.
#
# Environment: BIN_DIR (build/bin), PERF_MD (doc/perf.md), APPEND=0, KEEP=1,
# SIZES ("1000000 4000000"), ROUNDS (3), MAP_SIZE (bytes, 16 GiB),
# BUILD_NOTE (how the binaries were built, for the report).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
PERF_MD=${PERF_MD:-$ROOT/doc/perf.md}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
BUILD_NOTE=${BUILD_NOTE:-}
SIZES=${SIZES:-1000000 4000000}
ROUNDS=${ROUNDS:-3}
MAP_SIZE=${MAP_SIZE:-17179869184}

SHOAL=$BIN_DIR/shoal
die() { echo "restart: $*" >&2; exit 1; }
log() { echo "restart: $*" >&2; }
[[ -x $SHOAL && -x $BIN_DIR/shoald ]] || die "no shoal/shoald in $BIN_DIR (build first, or set BIN_DIR)"
"$SHOAL" ring --help 2>/dev/null | grep -q '^ *stop ' || die "$SHOAL has no 'ring stop' (rebuild)"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ring_bench_work restart
BASE=$(free_ring_base 1 29400)

export STARTED_AT="$(date '+%Y-%m-%d %H:%M %Z')" CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  KERNEL="$(uname -r)" COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (the working tree has uncommitted changes)' || true)" \
  SHOAL RING WORK ROUNDS BIN_DIR BUILD_NOTE MAP_SIZE

for KEYS in $SIZES; do
  log "$KEYS keys: a fresh node"
  "$SHOAL" ring up --dir "$RING" --nodes 1 --n 1 --w 1 --r 1 --base-port "$BASE" --fresh \
    >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "ring up failed"; }
  RING_STARTED=1
  # A map large enough for the data set, then the same node again.
  "$SHOAL" ring down --dir "$RING" >/dev/null
  CONFIG=$(find "$RING/n1" -maxdepth 1 -name '*.toml' | head -1)
  [[ -f $CONFIG ]] || die "no node config in $RING/n1"
  if grep -q '^\[storage\]' "$CONFIG"; then
    sed -i "/^\[storage\]/a map_size = $MAP_SIZE" "$CONFIG"
  else
    printf '\n[storage]\nmap_size = %s\n' "$MAP_SIZE" >>"$CONFIG"
  fi
  "$SHOAL" ring up --dir "$RING" >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "ring up (map_size) failed"; }
  log "$KEYS keys: loading"
  "$SHOAL" bench --dir "$RING" --load --workload w --keys "$KEYS" --value-size 100 \
    --ops 1 --concurrency 64 --seed 1500 --json >"$WORK/load-$KEYS.json" 2>"$WORK/load.err" ||
    { tail -5 "$WORK/load.err" >&2; die "load failed"; }
  KEYS=$KEYS python3 - <<'PY' || die "restarts failed"
import json, os, re, subprocess, sys, time
e = os.environ
SHOAL, RING, WORK, KEYS = e["SHOAL"], e["RING"], e["WORK"], int(e["KEYS"])
LOG = os.path.join(RING, "n1", "shoald.log")


def say(text):
    print("restart:   " + text, file=sys.stderr, flush=True)


def shoal(*args, timeout=120):
    p = subprocess.run([SHOAL, *args, "--dir", RING, "--json"], capture_output=True,
                       timeout=timeout, text=True)
    if p.returncode != 0:
        raise SystemExit(f"shoal {' '.join(args)} failed: {p.stderr.strip()}")
    return json.loads(p.stdout)


def trees():
    st = shoal("aae", "status")
    return st["trees_ready"], st["trees"]


def wait_ready(limit=600.0):
    start = time.monotonic()
    while True:
        ready, total = trees()
        if total > 0 and ready == total:
            return
        if time.monotonic() - start > limit:
            raise SystemExit(f"trees not ready after {limit:.0f} s ({ready} of {total})")
        time.sleep(0.05)


def log_size():
    return os.path.getsize(LOG)


def restart(how):
    """`how` (stop or kill), then start; seconds to answering and to ready,
    and the node's own log lines about its trees."""
    mark = log_size()
    shoal("ring", how, "n1")
    t0 = time.monotonic()
    shoal("ring", "start", "n1")
    answering = time.monotonic() - t0
    while True:
        ready, total = trees()
        if total > 0 and ready == total:
            break
        if time.monotonic() - t0 > 600:
            raise SystemExit("trees not ready 600 s after start")
        time.sleep(0.02)
    ready_s = time.monotonic() - t0
    with open(LOG, "rb") as f:
        f.seek(mark)
        text = f.read().decode("utf-8", "replace")
    lines = [l.split("] ", 1)[-1] for l in text.splitlines()
             if re.search(r"(anti-entropy: (loaded|saved|\d+ trees built|no trees saved))"
                          r"|trees not saved", l)]
    return {"how": how, "answering_s": answering, "ready_s": ready_s, "total": total,
            "log": lines}


wait_ready()
load = json.load(open(os.path.join(WORK, f"load-{KEYS}.json")))["load"]
if load["errors"] or load["keys"] != KEYS:
    raise SystemExit(f"the load wrote {load['keys']} keys with errors {load['errors']}")
status = shoal("status")
runs = []
for i in range(int(e["ROUNDS"])):
    r = restart("stop")
    say(f"clean restart {i + 1}: answering {r['answering_s']:.3f} s, trees ready "
        f"{r['ready_s']:.3f} s; {'; '.join(r['log'])}")
    runs.append(r)
r = restart("kill")
say(f"after a crash: answering {r['answering_s']:.3f} s, trees ready {r['ready_s']:.3f} s; "
    f"{'; '.join(r['log'])}")
runs.append(r)
out = {"keys": KEYS, "load_s": load["duration_s"], "load_errors": sum(load["errors"].values()),
       "node_keys": status["keys"], "storage_bytes": status["storage_bytes"], "runs": runs}
json.dump(out, open(os.path.join(WORK, f"result-{KEYS}.json"), "w"))
PY
  "$SHOAL" ring down --dir "$RING" >/dev/null 2>&1 || true
  RING_STARTED=0
done

SIZES="$SIZES" python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
e = os.environ
note = e["BUILD_NOTE"] or "binaries in %s; repository at %s%s" % (e["BIN_DIR"], e["COMMIT"], e["DIRTY"])
results = [json.load(open(os.path.join(work, f"result-{k}.json"))) for k in e["SIZES"].split()]
md = [
    "### restart.sh, %s" % e["STARTED_AT"],
    "",
    "- Machine: %s, kernel %s; shoal: %s." % (e["CPU"], e["KERNEL"], note),
    "- One node, n=1 w=1 r=1 (it holds every key; 64 trees of 4096 leaves); every key written once "
    "by `shoal bench --load` (100 B values). Times from just before `shoal ring start n1` to it "
    "returning (the node answers) and to the first `shoal aae status` (polled every 20 ms) that "
    "shows every tree ready; %s clean restarts (`ring stop`, SIGTERM) then one after a crash "
    "(`ring kill`, SIGKILL)." % e["ROUNDS"],
    "",
    "| keys | storage MB | restart | answering s | trees ready s | the node's log |",
    "|---:|---:|---|---:|---:|---|",
]
text = []
for r in results:
    for run in r["runs"]:
        kind = "clean" if run["how"] == "stop" else "crash"
        md.append("| %s | %.0f | %s | %.3f | %.3f | %s |" % (
            "{:,}".format(r["keys"]), r["storage_bytes"] / 1048576, kind, run["answering_s"],
            run["ready_s"], "; ".join(run["log"]).replace("|", "/")))
        text.append("%s keys, %s: answering %.3f s, trees ready %.3f s" % (
            "{:,}".format(r["keys"]), kind, run["answering_s"], run["ready_s"]))
md.append("")
open(os.path.join(work, "report.md"), "w").write("\n".join(md) + "\n")
print("\n".join(text))
PY
if [[ $APPEND == 1 ]]; then
  { echo; cat "$WORK/report.md"; } >>"$PERF_MD"
  log "appended to $PERF_MD"
fi
