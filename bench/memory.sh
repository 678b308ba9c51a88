#!/usr/bin/env bash
# bench/memory.sh: a node's heap after loading 1,000,000 keys of 100 B
# (issue 5's memory target: RssAnon <= 100 MB per node). Started by a user,
# never by `make test`; it builds nothing.
#
#   bench/memory.sh            # appends a dated section to doc/perf.md
#   APPEND=0 KEYS=100000 bench/memory.sh
#
# One fresh node (n=1 w=1 r=1, `shoal ring up` defaults otherwise); every key
# written once with `shoal bench --load` (64 connections); then, after
# SETTLE seconds, VmRSS, RssAnon, RssFile and VmHWM from /proc/<pid>/status,
# and the node's own key count and storage bytes (`shoal status`).
# RssFile includes LMDB's memory-mapped data file, which the kernel can drop
# and re-read; RssAnon is the process's own heap and stacks.
#
# Environment: BIN_DIR (build/bin), PERF_MD (doc/perf.md), APPEND=0, KEEP=1,
# KEYS (1000000), VALUE_SIZE (100), SETTLE (2), BUILD_NOTE (how the binaries
# were built, for the report).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
PERF_MD=${PERF_MD:-$ROOT/doc/perf.md}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
BUILD_NOTE=${BUILD_NOTE:-}
KEYS=${KEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-100}
SETTLE=${SETTLE:-2}

SHOAL=$BIN_DIR/shoal
die() { echo "memory: $*" >&2; exit 1; }
log() { echo "memory: $*" >&2; }
[[ -x $SHOAL && -x $BIN_DIR/shoald ]] || die "no shoal/shoald in $BIN_DIR (build first, or set BIN_DIR)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-memory.XXXXXX")
RING=$WORK/ring
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "$SHOAL" ring down --dir "$RING" >/dev/null 2>&1 || true
  if [[ $KEEP == 1 || $rc != 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BASE=$(free_ring_base 1 29100)

"$SHOAL" ring up --dir "$RING" --nodes 1 --n 1 --w 1 --r 1 --base-port "$BASE" --fresh \
  >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "ring up failed"; }
PID=$("$SHOAL" ring status --dir "$RING" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["pid"])')
rss() { grep -E '^(VmRSS|RssAnon|RssFile|VmHWM):' "/proc/$PID/status" | tr -s ' \t' ' ' | paste -sd';'; }
BEFORE=$(rss)
log "node pid $PID; at start: $BEFORE"
log "loading $KEYS keys of $VALUE_SIZE B"
"$SHOAL" bench --dir "$RING" --load --workload w --keys "$KEYS" --value-size "$VALUE_SIZE" \
  --ops 1 --concurrency 64 --seed 1000 --json >"$WORK/load.json" 2>"$WORK/load.err" ||
  { tail -5 "$WORK/load.err" >&2; die "load failed"; }
sleep "$SETTLE"
AFTER=$(rss)
"$SHOAL" status --json --dir "$RING" >"$WORK/status.json"

export STARTED_AT="$(date '+%Y-%m-%d %H:%M:%S %Z')" CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  KERNEL="$(uname -r)" COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (the working tree has uncommitted changes)' || true)" \
  KEYS VALUE_SIZE BEFORE AFTER SETTLE BIN_DIR BUILD_NOTE
python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
e = os.environ
def build_note(e):
    if e.get("BUILD_NOTE"):
        return e["BUILD_NOTE"]
    return "binaries in %s; repository at %s%s" % (e["BIN_DIR"], e["COMMIT"], e["DIRTY"])
def parse(s):
    out = {}
    for part in s.split(";"):
        k, v = part.split(":")
        out[k.strip()] = int(v.split()[0]) / 1024  # kB -> MB
    return out
b, a = parse(e["BEFORE"]), parse(e["AFTER"])
load = json.load(open(work + "/load.json"))["load"]
st = json.load(open(work + "/status.json"))
errors = sum(load["errors"].values())
text = ("after loading %s keys of %s B in %.1f s (%d errors): RssAnon %.1f MB, RssFile %.1f MB, "
        "VmRSS %.1f MB, VmHWM %.1f MB (at start: RssAnon %.1f MB); node keys %s, storage %.1f MB\n" %
        ("{:,}".format(load["keys"]), e["VALUE_SIZE"], load["duration_s"], errors, a["RssAnon"],
         a["RssFile"], a["VmRSS"], a["VmHWM"], b["RssAnon"], "{:,}".format(st["keys"]),
         st["storage_bytes"] / 1048576))
open(work + "/report.txt", "w").write(text)
md = [
    "### memory.sh, %s" % e["STARTED_AT"],
    "",
    "- Machine: %s, kernel %s; shoal: %s." % (e["CPU"], e["KERNEL"], build_note(e)),
    "- One node, n=1 w=1 r=1; %s keys of %s B written once by `shoal bench --load` (64 connections, %.1f s, %d errors); "
    "/proc/<pid>/status read %s s later." % ("{:,}".format(load["keys"]), e["VALUE_SIZE"], load["duration_s"], errors, e["SETTLE"]),
    "",
    "| | RssAnon MB | RssFile MB | VmRSS MB | VmHWM MB |",
    "|---|---:|---:|---:|---:|",
    "| at start | %.1f | %.1f | %.1f | %.1f |" % (b["RssAnon"], b["RssFile"], b["VmRSS"], b["VmHWM"]),
    "| after the load | %.1f | %.1f | %.1f | %.1f |" % (a["RssAnon"], a["RssFile"], a["VmRSS"], a["VmHWM"]),
    "",
    "The node reports %s keys and %.1f MB of storage." % ("{:,}".format(st["keys"]), st["storage_bytes"] / 1048576),
    "",
]
open(work + "/report.md", "w").write("\n".join(md))
PY
echo
cat "$WORK/report.txt"
if [[ $APPEND == 1 ]]; then
  [[ -f $PERF_MD ]] || printf '# Performance\n\n' >"$PERF_MD"
  { echo; cat "$WORK/report.md"; } >>"$PERF_MD"
  log "appended to $PERF_MD"
fi
