#!/usr/bin/env bash
# bench/sessions.sh: what session tokens cost (doc/impl.md, "Sessions").
# Started by a user, never by `make test`; it builds nothing.
#
#   bench/sessions.sh                 # appends a dated section to doc/perf.md
#   APPEND=0 DURATION=5 bench/sessions.sh
#
# A 5-node ring n=3 holding KEYS keys of 100 B (`bench --load`), then
# `shoal bench --workload a` (50 % reads, 50 % updates, zipfian, closed loop,
# 16 connections spread over the nodes) for DURATION seconds per case, with
# and without --sessions:
#   - r=1 w=1 and r=2 w=2 on a healthy ring;
#   - r=1 w=1 while every link of n5 is delayed by 20 ms (a lagging
#     replica: a session read whose first reply lacks the session's floor
#     waits for another replica).
# Reported per case: ops/s, read and update p50/p99 of successful requests,
# errors by kind.
#
# Environment: BIN_DIR (build/bin), PERF_MD (doc/perf.md), APPEND (1),
# KEEP (0), KEYS (100000), DURATION (20), BUILD_NOTE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
PERF_MD=${PERF_MD:-$ROOT/doc/perf.md}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
KEYS=${KEYS:-100000}
DURATION=${DURATION:-20}
BUILD_NOTE=${BUILD_NOTE:-}

SHOAL=$BIN_DIR/shoal
die() { echo "sessions: $*" >&2; exit 1; }
log() { echo "sessions: $*" >&2; }
[[ -x $SHOAL && -x $BIN_DIR/shoald ]] || die "no shoal/shoald in $BIN_DIR (build first, or set BIN_DIR)"
"$SHOAL" bench --help 2>/dev/null | grep -q -- '--sessions' || die "$SHOAL has no 'bench --sessions' (rebuild)"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ring_bench_work sessions
BASE=$(free_ring_base 5 29700)

log "a 5-node ring n=3 on base port $BASE"
"$SHOAL" ring up --dir "$RING" --nodes 5 --n 3 --w 2 --r 2 --base-port "$BASE" --fresh \
  >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "ring up failed"; }
RING_STARTED=1
log "loading $KEYS keys"
"$SHOAL" bench --dir "$RING" --load --workload w --keys "$KEYS" --value-size 100 \
  --ops 1 --concurrency 32 --seed 1600 --json >"$WORK/load.json" 2>"$WORK/load.err" ||
  { tail -5 "$WORK/load.err" >&2; die "load failed"; }

export STARTED_AT="$(date '+%Y-%m-%d %H:%M %Z')" CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (the working tree has uncommitted changes)' || true)" \
  SHOAL RING WORK KEYS DURATION BUILD_NOTE

python3 - <<'PY' || die "a run failed"
import json, os, subprocess, sys

e = os.environ
SHOAL, RING, WORK = e["SHOAL"], e["RING"], e["WORK"]
KEYS, DURATION = int(e["KEYS"]), int(e["DURATION"])


def say(text):
    print("sessions: " + text, file=sys.stderr, flush=True)


def shoal(*args, timeout=120):
    p = subprocess.run([SHOAL, *args, "--dir", RING, "--json"], capture_output=True,
                       timeout=timeout, text=True)
    if p.returncode != 0:
        raise SystemExit(f"shoal {' '.join(args)} failed: {p.stderr.strip()} {p.stdout[:300]}")
    return json.loads(p.stdout)


def bench(r, w, sessions, seed):
    args = ["bench", "--workload", "a", "--keys", str(KEYS), "--duration", str(DURATION),
            "--concurrency", "16", "--r", str(r), "--w", str(w), "--seed", str(seed)]
    if sessions:
        args.append("--sessions")
    return shoal(*args, timeout=DURATION + 120)


def row(case, sessions, rep):
    ops = rep["operations"]

    def q(name, p):
        return ops[name]["ok"][p] / 1000

    errs = ", ".join(f"{k} {v:,}" for k, v in sorted(rep["errors"].items())) or "none"
    return (f"| {case} | {'on' if sessions else 'off'} | {rep['ops_per_s']:,.0f} | "
            f"{q('read', 'p50_us'):.2f} / {q('read', 'p99_us'):.2f} | "
            f"{q('write', 'p50_us'):.2f} / {q('write', 'p99_us'):.2f} | {errs} |")


rows = []
cases = [("r=1 w=1", 1, 1, False), ("r=2 w=2", 2, 2, False), ("r=1 w=1, n5 delayed 20 ms", 1, 1, True)]
seed = 1601
for case, r, w, delayed in cases:
    if delayed:
        for other in ("n1", "n2", "n3", "n4"):
            shoal("fault", "delay", f"n5->{other}", "20ms")
            shoal("fault", "delay", f"{other}->n5", "20ms")
    for sessions in (False, True):
        say(f"{case}, sessions {'on' if sessions else 'off'}: {DURATION} s")
        rep = bench(r, w, sessions, seed)
        seed += 1
        with open(os.path.join(WORK, f"run-{len(rows)}.json"), "w") as f:
            json.dump(rep, f)
        rows.append(row(case, sessions, rep))
        say(rows[-1])
    if delayed:
        shoal("fault", "heal")

note = e.get("BUILD_NOTE") or ""
section = [
    "",
    f"### sessions.sh, {e['STARTED_AT']}",
    "",
    f"Commit {e['COMMIT']}{e['DIRTY']}{(', ' + note) if note else ''}; {e['CPU']}. "
    f"A 5-node ring n=3 on one machine, {KEYS:,} keys of 100 B, `shoal bench --workload a` "
    f"(50 % reads, 50 % updates, zipfian), closed loop, 16 connections, {DURATION} s per "
    "case; `--sessions` gives each connection a session its requests carry. Latencies "
    "in ms, successful requests.",
    "",
    "| case | sessions | ops/s | read p50 / p99 | update p50 / p99 | errors |",
    "|---|---|---:|---:|---:|---|",
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
