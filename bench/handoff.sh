#!/usr/bin/env bash
# bench/handoff.sh: how fast a returning node gets its hints back, and what
# the drain costs foreground requests (issue 3, "Speed"). Started by a user,
# never by `make test`; it builds nothing (run `make build` first).
#
#   bench/handoff.sh                   # appends a dated section to doc/perf.md
#   APPEND=0 bench/handoff.sh          # print only
#
# 1. A fresh 5-node ring, n=3 w=2 r=2 (`shoal ring up` defaults otherwise).
# 2. SIGKILL n5, wait until the others have marked it down, then write every
#    one of 100,000 keys once (`shoal bench --load`, 100 B values) through
#    n1..n4: the writes n5 should hold become hints on its fallbacks.
# 3. Three foreground runs against n1..n4, each a steady open loop
#    (read=50,write=50, 2,000 ops/s, 20 s): "quiet" (n5 down, nothing
#    polled), "before" (n5 down, `shoal hints --json` polled on every node
#    every 0.5 s, the same polling as during the drain) and "during": WARMUP s
#    into it, `shoal ring start n5`, and the hints polled on every node every
#    0.5 s from that moment until the sum of "pending" over all five nodes is
#    0 (then, until the run ends, as in "before").
# Reported: hints drained (the growth of the nodes' "delivered" counters
# between the restart and the last poll), seconds from the restart to 0
# pending (with the bound the 0.5 s polling allows), hints/s, the delivery
# rate the nodes report, and each run's p50/p99 and worst and median
# one-second p99 (for "during", over the seconds overlapping the drain).
#
# Environment: BIN_DIR (default build/bin), PERF_MD (doc/perf.md), APPEND=0,
# KEEP=1 (keep the work directory), KEYS (100000), RATE (2000), DURATION
# (20, seconds per foreground run), WARMUP (3), MAX_WAIT (300, seconds to
# wait for the drain), BUILD_NOTE (how the binaries were built, for the
# report).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
PERF_MD=${PERF_MD:-$ROOT/doc/perf.md}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
BUILD_NOTE=${BUILD_NOTE:-}
KEYS=${KEYS:-100000}
RATE=${RATE:-2000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
MAX_WAIT=${MAX_WAIT:-300}
VALUE_SIZE=100
FG_CONNS=16
MIX=read=50,write=50
DOWN=n5

SHOAL=$BIN_DIR/shoal
die() { echo "handoff: $*" >&2; exit 1; }
log() { echo "handoff: $*" >&2; }

[[ -x $SHOAL ]] || die "no $SHOAL (build first, or set BIN_DIR)"
[[ -x $BIN_DIR/shoald ]] || die "no $BIN_DIR/shoald (build first, or set BIN_DIR)"
command -v python3 >/dev/null || die "python3 is needed"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ring_bench_work handoff

# ---- 1. the ring -------------------------------------------------------------
BASE=$(free_ring_base 5 28100)
log "work directory $WORK; ring on ports $((BASE + 1))..$((BASE + 5))"
RING_STARTED=1
"$SHOAL" ring up --dir "$RING" --nodes 5 --n 3 --w 2 --r 2 --base-port "$BASE" \
  --fresh >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "ring up failed"; }
ALL=() LIVE=()
for i in 1 2 3 4 5; do
  ALL+=("127.0.0.1:$((BASE + i))")
  [[ n$i == "$DOWN" ]] || LIVE+=("127.0.0.1:$((BASE + i))")
done
LIVE_CSV=$(IFS=,; echo "${LIVE[*]}")

# Sum of "pending" over the nodes given (those that answer), to stdout.
pending_total() {
  local total=0 addr p
  for addr in "$@"; do
    p=$("$SHOAL" hints --json --node "$addr" 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])') || p=0
    total=$((total + p))
  done
  echo "$total"
}

# ---- 2. the outage -------------------------------------------------------------
"$SHOAL" ring kill "$DOWN" --dir "$RING" >/dev/null
log "killed $DOWN; waiting until n1..n4 see it down"
for ((i = 0; i < 100; i++)); do
  downs=0
  for addr in "${LIVE[@]}"; do
    if "$SHOAL" status --json --node "$addr" 2>/dev/null | python3 -c '
import json, sys
members = json.load(sys.stdin)["members"]
sys.exit(0 if any(m["name"] == sys.argv[1] and not m["up"] for m in members) else 1)' "$DOWN"; then
      downs=$((downs + 1))
    fi
  done
  [[ $downs == "${#LIVE[@]}" ]] && break
  sleep 0.2
done
[[ $downs == "${#LIVE[@]}" ]] || die "only $downs of ${#LIVE[@]} nodes see $DOWN down after 20 s"

log "writing $KEYS keys through n1..n4"
"$SHOAL" bench --nodes "$LIVE_CSV" --load --workload w --keys "$KEYS" \
  --value-size "$VALUE_SIZE" --ops 1 --concurrency 64 --seed 1000 --json \
  >"$WORK/load.json" 2>"$WORK/load.err" || { tail -5 "$WORK/load.err" >&2; die "load failed"; }
AFTER_LOAD=$(pending_total "${LIVE[@]}")
log "hints pending after the load: $AFTER_LOAD"

# ---- 3, 4. foreground load, before and during the drain --------------------------
# foreground NAME SEED: the foreground run, stdout JSON and CSV in $WORK/NAME.*,
# stderr progress lines time-stamped in $WORK/NAME.err.
foreground() {
  "$SHOAL" bench --nodes "$LIVE_CSV" --mix "$MIX" --keys "$KEYS" \
    --value-size "$VALUE_SIZE" --rate "$RATE" --concurrency "$FG_CONNS" \
    --duration "$DURATION" --seed "$2" --json --csv "$WORK/$1.csv" \
    2>&1 >"$WORK/$1.json" | stamp >"$WORK/$1.err"
}

# The hints poller (python): "idle" polls every node every 0.5 s for a
# while, "drain" restarts $DOWN and polls until nothing is pending.
cat >"$WORK/poll.py" <<'PY'
# poll.py idle SHOAL RING DOWN WORK SECONDS ADDR...: the same polls every
#   0.5 s for SECONDS, with nothing to wait for (the load the polling adds,
#   during the "before" run too).
# poll.py drain SHOAL RING DOWN WORK MAX_WAIT ADDR...: see handoff.sh.
import json, subprocess, sys, time
mode, shoal, ring, down, work = sys.argv[1:6]
max_wait = float(sys.argv[6])
addrs = sys.argv[7:]
live = [a for i, a in enumerate(addrs) if "n%d" % (i + 1) != down]

def poll(nodes):
    """Per node: the hints JSON, or None when it did not answer."""
    res = {}
    for a in nodes:   # one at a time
        p = subprocess.run([shoal, "hints", "--json", "--node", a, "--timeout", "1000"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            res[a] = json.loads(p.stdout) if p.returncode == 0 else None
        except ValueError:
            res[a] = None
    return res

if mode == "idle":
    end = time.time() + max_wait
    while time.time() < end:
        t = time.time()
        poll(addrs)
        time.sleep(max(0.0, t + 0.5 - time.time()))
    sys.exit(0)

base = poll(live)
if any(doc is None for doc in base.values()):
    sys.exit("handoff: a live node did not answer the baseline poll")
baseline = {a: doc["delivered"] for a, doc in base.items()}
pending0 = sum(doc["pending"] for doc in base.values())
dropped0 = sum(sum(doc.get("dropped", {}).values()) for doc in base.values())
print("handoff:   baseline: pending %d on n1..n4" % pending0, file=sys.stderr)

t0 = time.time()
start = subprocess.Popen([shoal, "ring", "start", down, "--dir", ring],
                         stdout=open(work + "/start.log", "w"), stderr=subprocess.STDOUT)
started = None     # when `ring start` returned (the node answers, peers see it)
polls = []
done = None
while True:
    t = time.time()
    if started is None and start.poll() is not None:
        started = t
    res = poll(addrs)
    t_end = time.time()
    for a, doc in res.items():
        if doc is not None and a not in baseline:
            baseline[a] = doc["delivered"]   # the restarted node: from its first answer
    answered = all(doc is not None for doc in res.values())
    pending = sum(doc["pending"] for doc in res.values() if doc is not None)
    delivered = sum(doc["delivered"] - baseline[a] for a, doc in res.items() if doc is not None)
    rate = sum(doc["delivered_per_sec"] for doc in res.values() if doc is not None)
    dropped = sum(sum(doc.get("dropped", {}).values()) for doc in res.values()
                  if doc is not None) - dropped0
    polls.append({"t": t, "t_rel": round(t - t0, 3), "poll_s": round(t_end - t, 3),
                  "pending": pending, "delivered": delivered, "rate": rate,
                  "dropped": dropped, "answered": answered})
    print("handoff:   +%5.1f s  pending %7d  delivered %7d  node-reported rate %8.0f/s%s" %
          (t - t0, pending, delivered, rate, "" if answered else "  (a node did not answer)"),
          file=sys.stderr)
    if answered and pending == 0:
        done = t_end
        break
    if t - t0 > max_wait:
        break
    time.sleep(max(0.0, t + 0.5 - time.time()))
rc = start.wait()
if started is None:
    started = time.time()
json.dump({"t0": t0, "t1": done, "started": started, "start_rc": rc,
           "pending_at_start": pending0, "polls": polls}, open(work + "/poll.json", "w"), indent=1)
sys.exit(0 if done is not None and rc == 0 else 1)
PY

log "quiet: $RATE ops/s ($MIX) for $DURATION s, $DOWN still down, nothing polled"
foreground quiet 1 || { tail -5 "$WORK/quiet.err" >&2; die "the 'quiet' run failed"; }

log "before: the same load, hints polled every 0.5 s as during the drain"
python3 "$WORK/poll.py" idle "$SHOAL" "$RING" "$DOWN" "$WORK" "$DURATION" "${ALL[@]}" &
IDLE_PID=$!
BG_PIDS+=("$IDLE_PID")
foreground before 2 || { tail -5 "$WORK/before.err" >&2; die "the 'before' run failed"; }
wait "$IDLE_PID" || true

log "during: the same load; $DOWN restarts after $WARMUP s"
FG_START=$SECONDS
foreground during 3 &
FG_PID=$!
BG_PIDS+=("$FG_PID")
sleep "$WARMUP"
# Polls n1..n4 once (the baseline: pending and delivered), starts $DOWN
# (time t0) and polls all five nodes every 0.5 s until 0 pending.
python3 "$WORK/poll.py" drain "$SHOAL" "$RING" "$DOWN" "$WORK" "$MAX_WAIT" "${ALL[@]}" ||
  die "the drain did not finish (see $WORK/poll.json, $WORK/start.log)"
# Keep polling (as during the "before" run) until the foreground run ends.
LEFT=$((DURATION + 2 - (SECONDS - FG_START)))
if [[ $LEFT -gt 0 ]]; then
  python3 "$WORK/poll.py" idle "$SHOAL" "$RING" "$DOWN" "$WORK" "$LEFT" "${ALL[@]}" &
  IDLE_PID=$!
  BG_PIDS+=("$IDLE_PID")
fi
wait "$FG_PID" || { tail -5 "$WORK/during.err" >&2; die "the 'during' run failed"; }
[[ $LEFT -le 0 ]] || wait "$IDLE_PID" || true
BG_PIDS=()

# ---- report ------------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
export STARTED_AT="$(date '+%Y-%m-%d %H:%M:%S %Z')" CPU NCPU="$(nproc)" KERNEL="$(uname -r)" \
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (the working tree has uncommitted changes)' || true)" \
  KEYS RATE DURATION WARMUP MIX FG_CONNS DOWN AFTER_LOAD BIN_DIR VALUE_SIZE BUILD_NOTE \
  MAX_RATE_CFG="$(sed -n 's/^[[:space:]]*max_rate[[:space:]]*=[[:space:]]*//p' "$RING/n1/node.toml" | head -1)"
python3 - "$WORK" <<'PY'
import csv, json, os, re, statistics, sys
work = sys.argv[1]
e = os.environ
nan = float("nan")

def build_note(e):
    if e.get("BUILD_NOTE"):
        return e["BUILD_NOTE"]
    return "binaries in %s; repository at %s%s" % (e["BIN_DIR"], e["COMMIT"], e["DIRTY"])

def n(x):
    return "{:,.0f}".format(x)

# -- the drain
poll = json.load(open(work + "/poll.json"))
t0, t1, polls = poll["t0"], poll["t1"], poll["polls"]
drained = polls[-1]["delivered"]
seconds = t1 - t0                       # ring start -> end of the first poll seeing 0
# The drain ended after the start of the last poll that still saw a hint.
lower_s = polls[-2]["t"] - t0 if len(polls) >= 2 else 0.0
rate_low = drained / seconds
rate_high = drained / lower_s if lower_s >= 0.25 else None   # None: ended within one poll interval
started_s = poll["started"] - t0
peak_rate = max(p["rate"] for p in polls)
dropped = polls[-1]["dropped"]
max_rate_cfg = e["MAX_RATE_CFG"] or "20000 (default)"

# -- the foreground runs
def total(name):
    with open("%s/%s.csv/summary.csv" % (work, name)) as f:
        for r in csv.DictReader(f):
            if r["op"] == "total":
                return r

def seconds_p99(name):
    """(stamp, second, p99 ms) of each progress line of a run."""
    out = []
    for line in open("%s/%s.err" % (work, name)):
        m = re.match(r"(\d+\.\d+) \[\s*(\d+)s\].*p99 ([\d.]+) ms", line)
        if m:
            out.append((float(m.group(1)), int(m.group(2)), float(m.group(3))))
    return out

runs = {}
for name in ("quiet", "before", "during"):
    doc = json.load(open("%s/%s.json" % (work, name)))
    tot = total(name)
    secs = seconds_p99(name)
    if name == "during":
        # The one-second windows [stamp-1, stamp] that overlap the drain.
        window = [p for (ts, s, p) in secs if ts > t0 and ts - 1 < t1]
        after = [p for (ts, s, p) in secs if ts - 1 >= t1]
    else:
        window = [p for (ts, s, p) in secs if s > 1]   # every second but the first
        after = []
    runs[name] = {"p50": float(tot["p50_us"]) / 1000, "p99": float(tot["p99_us"]) / 1000,
                  "errors": sum(doc["errors"].values()), "shed": doc.get("shed", 0),
                  "worst": max(window) if window else nan,
                  "median": statistics.median(window) if window else nan,
                  "seconds": len(window),
                  "after_median": statistics.median(after) if after else nan,
                  "after_seconds": len(after)}
q, b, d = runs["quiet"], runs["before"], runs["during"]

text = "\n".join([
    "hints pending after writing %s keys: %s; at the restart: %s" %
    (n(int(e["KEYS"])), n(int(e["AFTER_LOAD"])), n(poll["pending_at_start"])),
    "drained %s hints; 0 pending %.1f s after `ring start` (still pending at +%.1f s): %s hints/s%s" %
    (n(drained), seconds, lower_s, n(rate_low), " (at most %s)" % n(rate_high) if rate_high else ""),
    "  `ring start` returned after %.1f s; peak rate reported by the nodes %s/s; handoff.max_rate %s per node; dropped %d" %
    (started_s, n(peak_rate), max_rate_cfg, dropped),
    "foreground, %s ops/s open loop:    p50 ms   p99 ms   1-s p99 ms: worst / median (seconds)" % n(int(e["RATE"])),
    "  quiet  (n5 down, no polling)    %7.3f  %7.3f   %7.3f / %7.3f (%d)" % (q["p50"], q["p99"], q["worst"], q["median"], q["seconds"]),
    "  before (n5 down, polled)        %7.3f  %7.3f   %7.3f / %7.3f (%d)" % (b["p50"], b["p99"], b["worst"], b["median"], b["seconds"]),
    "  during (restart, drain, polled) %7.3f  %7.3f   %7.3f / %7.3f (%d overlapping the drain)" % (d["p50"], d["p99"], d["worst"], d["median"], d["seconds"]),
    "  during, after the drain: median 1-s p99 %.3f ms (%d s)" % (d["after_median"], d["after_seconds"]),
    "  p99 during/before: whole run %.2fx, worst second %.2fx; during/quiet: %.2fx, %.2fx" %
    (d["p99"] / b["p99"], d["worst"] / b["worst"], d["p99"] / q["p99"], d["worst"] / q["worst"]),
    "  errors: quiet %d, before %d, during %d; shed %d, %d, %d" %
    (q["errors"], b["errors"], d["errors"], q["shed"], b["shed"], d["shed"]),
]) + "\n"
open(work + "/report.txt", "w").write(text)

md = [
    "### handoff.sh, %s" % e["STARTED_AT"],
    "",
    "- Machine: %s, %s CPUs (nproc), kernel %s; shoal: %s." % (e["CPU"], e["NCPU"], e["KERNEL"], build_note(e)),
    "- 5-node ring n=3 w=2 r=2 (defaults otherwise; handoff.max_rate %s per node); %s killed; %s keys of "
    "%s B written once through the other four. Then three foreground runs against those four, each an "
    "open loop of %s ops/s (%s, zipfian over the same keys, %s connections, %s s): *quiet* (%s down, "
    "nothing polled), *before* (%s down, `shoal hints --json` polled on all 5 nodes every 0.5 s, as during "
    "the drain) and *during* (%s restarted %s s into the run; polled from the restart until 0 pending, "
    "then until the run ends)." %
    (max_rate_cfg, e["DOWN"], n(int(e["KEYS"])), e["VALUE_SIZE"], n(int(e["RATE"])), e["MIX"],
     e["FG_CONNS"], e["DURATION"], e["DOWN"], e["DOWN"], e["DOWN"], e["WARMUP"]),
    "",
    "| handoff | |",
    "|---|---:|",
    "| hints pending after the writes | %s |" % n(int(e["AFTER_LOAD"])),
    "| hints pending at the restart | %s |" % n(poll["pending_at_start"]),
    "| hints drained (growth of the nodes' `delivered`) | %s |" % n(drained),
    "| 0 pending on every node, seconds after `ring start` | %.1f |" % seconds,
    "| last poll still seeing a pending hint, started at | +%.1f s |" % lower_s,
    "| hints/s (drained / seconds; upper bound from the last pending poll) | %s%s |" %
    (n(rate_low), " (≤ %s)" % n(rate_high) if rate_high else ""),
    "| `ring start` returned (node answers, peers see it up) | +%.1f s |" % started_s,
    "| peak delivery rate reported by the nodes (sum of `delivered_per_sec`, a 10 s average) | %s |" % n(peak_rate),
    "| hints dropped | %d |" % dropped,
    "",
    "| foreground (%s ops/s) | p50 ms | p99 ms | worst 1-s p99 ms | median 1-s p99 ms | errors | shed |" % n(int(e["RATE"])),
    "|---|---:|---:|---:|---:|---:|---:|",
    "| quiet: %s down, nothing polled | %.3f | %.3f | %.3f | %.3f | %d | %d |" % (e["DOWN"], q["p50"], q["p99"], q["worst"], q["median"], q["errors"], q["shed"]),
    "| before: %s down, hints polled | %.3f | %.3f | %.3f | %.3f | %d | %d |" % (e["DOWN"], b["p50"], b["p99"], b["worst"], b["median"], b["errors"], b["shed"]),
    "| during: restart and drain, polled | %.3f | %.3f | %.3f | %.3f | %d | %d |" % (d["p50"], d["p99"], d["worst"], d["median"], d["errors"], d["shed"]),
    "",
    "p99 and p50 are over each whole run; the one-second p99s come from the bench's progress lines "
    "(quiet and before: every second but the first; during: the %d one-second windows that overlap "
    "the drain). The whole *during* run also holds %s s before the restart and the time after the "
    "drain, when its median one-second p99 was %.3f ms (%d s, %s back up, nothing pending). "
    "p99 during/before: %.2f× over the whole runs, %.2f× worst second against worst second; "
    "during/quiet: %.2f×, %.2f×." %
    (d["seconds"], e["WARMUP"], d["after_median"], d["after_seconds"], e["DOWN"],
     d["p99"] / b["p99"], d["worst"] / b["worst"], d["p99"] / q["p99"], d["worst"] / q["worst"]),
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
