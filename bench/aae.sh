#!/usr/bin/env bash
# bench/aae.sh: what active anti-entropy costs to repair a small divergence
# in a large data set, and what its exchanges cost foreground requests.
# Started by a user, never by `make test`; it builds nothing (run `make
# build` first). It prints its results; nothing is appended anywhere.
#
#   bench/aae.sh
#   KEYS=200000 DIVERGENT=200 bench/aae.sh     # a smaller, quicker run
#
# 1. A fresh 3-node ring, n=3 w=2 r=2, hinted handoff off (so that only
#    anti-entropy repairs), anti-entropy at its defaults; every one of KEYS
#    keys (user0..) written once with `shoal bench --load` (100 B values).
#    Wait until every node's Merkle trees are ready.
# 2. "idle": a foreground run (workload a, RATE ops/s open loop, over
#    user0..user{FG_KEYS-1}, through n1 and n2, DURATION s) while the
#    replicas agree: exchanges run, nothing to repair. The convergence
#    poller of step 4 runs alongside, so both runs carry the same polling.
# 3. SIGKILL n3; DIVERGENT keys outside the foreground's range
#    (user{FG_KEYS}.., evenly spaced) are written again, blind, through n1
#    and n2: those two now hold 2 siblings for each, n3 the old one.
# 4. "during": `shoal ring start n3` (time t0), then the same foreground run
#    as in 2; every second the DIVERGENT keys that still differ are read
#    from n3's own store (raw local gets, pipelined) and compared with n1's
#    copy; converged = all equal. `shoal aae status` is polled every 2 s on
#    every node (and at the end). (The idle run's poller reads all
#    DIVERGENT keys every second: the most the "during" poller reads.)
# 5. After the foreground run: every replica's `objects` database
#    (`shoald dump --db objects`, read while the nodes run) must be
#    identical; from n1's dump: the data set's size and the size of the
#    DIVERGENT records (storage key + stored object).
#
# Reported: seconds from `ring start` to convergence (and to n3's trees
# being ready), bytes the nodes' anti-entropy exchanged meanwhile (growth of
# `aae status` "bytes", summed over the three nodes; n3 counts from its
# start), the bytes that really differed, the ratio sent / differing, the
# traffic as % of the data set, keys repaired, and the foreground p50/p99
# (whole run, worst and median one-second p99) idle vs during.
#
# Environment: BIN_DIR (default build/bin), KEEP=1 (keep the work
# directory), KEYS (1000000), DIVERGENT (1000), FG_KEYS (100000, the
# foreground's key range), RATE (1000), DURATION (30, seconds per
# foreground run), MAX_WAIT (600, seconds to wait for convergence),
# BUILD_NOTE (how the binaries were built, for the report).
#
# The raw-frame helpers (pipelined puts and local gets) and the `shoald
# dump` reader come from tests/cluster (harness.py, test_handoff.py,
# test_aae.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
KEEP=${KEEP:-0}
BUILD_NOTE=${BUILD_NOTE:-}
KEYS=${KEYS:-1000000}
DIVERGENT=${DIVERGENT:-1000}
FG_KEYS=${FG_KEYS:-100000}
RATE=${RATE:-1000}
DURATION=${DURATION:-30}
MAX_WAIT=${MAX_WAIT:-600}
VALUE_SIZE=100
FG_CONNS=16
DOWN=n3

SHOAL=$BIN_DIR/shoal
die() { echo "aae: $*" >&2; exit 1; }
log() { echo "aae: $*" >&2; }

[[ -x $SHOAL ]] || die "no $SHOAL (build first, or set BIN_DIR)"
[[ -x $BIN_DIR/shoald ]] || die "no $BIN_DIR/shoald (build first, or set BIN_DIR)"
command -v python3 >/dev/null || die "python3 is needed"
"$BIN_DIR/shoald" dump --help >/dev/null 2>&1 || die "$BIN_DIR/shoald has no 'dump' subcommand (rebuild)"
HELP=$("$SHOAL" --help)
grep -q '^ *aae ' <<<"$HELP" || die "$SHOAL has no 'aae' verb"
((KEYS - FG_KEYS >= DIVERGENT && DIVERGENT > 0)) ||
  die "need KEYS - FG_KEYS >= DIVERGENT > 0 (got $KEYS, $FG_KEYS, $DIVERGENT)"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ring_bench_work aae

# ---- the driver (python): divergence, polling, dumps, report --------------------
cat >"$WORK/driver.py" <<'PY'
# driver.py MODE [ARG]: the steps of aae.sh that need more than a shell.
# Settings come from the environment (ROOT SHOAL RING WORK KEYS DIVERGENT
# FG_KEYS N1 N2 N3, see aae.sh).
import base64, hashlib, json, os, statistics, subprocess, sys, time

e = os.environ
sys.path.insert(0, os.path.join(e["ROOT"], "tests", "cluster"))
import harness                     # noqa: E402  raw frames
import test_handoff as th          # noqa: E402  pipelined puts / local gets
import test_aae                    # noqa: E402  `shoald dump` reader

WORK, SHOAL, RING = e["WORK"], e["SHOAL"], e["RING"]
KEYS, DIVERGENT, FG_KEYS = int(e["KEYS"]), int(e["DIVERGENT"]), int(e["FG_KEYS"])
ADDR = {"n1": e["N1"], "n2": e["N2"], "n3": e["N3"]}
STEP = (KEYS - FG_KEYS) // DIVERGENT
DIV_KEYS = ["user%d" % (FG_KEYS + i * STEP) for i in range(DIVERGENT)]
POLL_S = 1.0


def say(text):
    print("aae:   " + text, file=sys.stderr, flush=True)


def hostport(name):
    host, port = ADDR[name].rsplit(":", 1)
    return host, int(port)


def local_copies(name, keys=None):
    """{key: sorted [(value hex, tombstone)]} of `keys` (default DIV_KEYS)
    in `name`'s own store; None when the node does not answer."""
    keys = DIV_KEYS if keys is None else keys
    frames = [(i + 1, th.local_get_frame(i + 1, k.encode())) for i, k in enumerate(keys)]
    try:
        replies = th.pipeline(hostport(name), frames, window=64, timeout=30)
    except (OSError, AssertionError):
        return None
    out = {}
    for i, k in enumerate(keys):
        r = replies[i + 1]
        if r["tag"] != th.TAG_GET_REPLY:
            return None
        out[k] = sorted((s["value"].hex(), s["tombstone"]) for s in r["siblings"])
    return out


def aae_status(name):
    p = subprocess.run([SHOAL, "aae", "status", "--json", "--node", ADDR[name],
                        "--timeout", "2000"], capture_output=True, timeout=30)
    if p.returncode != 0:
        return None
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        return None
    doc.pop("partitions", None)
    return doc


def statuses(names=("n1", "n2", "n3")):
    return {n: aae_status(n) for n in names}


def poll_loop(seconds, reference, out_name, t0=None):
    """Every POLL_S: reads the DIV_KEYS still differing (all of them
    without a reference) from n3's store; every 2 s `aae status` on every
    node. For `seconds` from `t0` (default now) or (with a reference) until
    n3 matches it. Progress lines count from `t0`."""
    t0 = time.time() if t0 is None else t0
    polls, last_status, done = [], 0.0, None
    trees_ready = None
    pending = list(DIV_KEYS)
    while True:
        t = time.time()
        copies = local_copies("n3", pending)
        poll = {"t": t, "answered": copies is not None, "read": len(pending)}
        if reference is not None and copies is not None:
            pending = [k for k in pending if copies[k] != reference[k]]
            poll["differing"] = len(pending)
        if t - last_status >= 2.0 or poll.get("differing") == 0:
            last_status = t
            poll["status"] = statuses()
            s3 = poll["status"]["n3"]
            if trees_ready is None and s3 and s3["trees"] > 0 and s3["trees_ready"] == s3["trees"]:
                trees_ready = t
            say("+%5.1f s  n3: %s  %s" % (
                t - t0,
                "not answering" if copies is None else
                ("%d of %d keys differ" % (poll["differing"], DIVERGENT)
                 if "differing" in poll else "polled"),
                "  ".join("%s: trees %s/%s exch %s repaired %s bytes %s" % (
                    n, s["trees_ready"], s["trees"], s["exchanges"], s["keys_repaired"],
                    s["bytes"]) if s else "%s: -" % n for n, s in poll["status"].items())))
        polls.append(poll)
        if poll.get("differing") == 0:
            done = t
            break
        if t - t0 > seconds:
            break
        time.sleep(max(0.0, t + POLL_S - time.time()))
    json.dump({"polls": polls, "done": done, "trees_ready": trees_ready},
              open(os.path.join(WORK, out_name), "w"), indent=1)
    return done


def dump_digest(name):
    """sha256, records, bytes (storage keys + values) and the bytes of the
    DIV_KEYS records of `name`'s `objects` database."""
    data = test_aae.objects_dump(os.path.join(RING, name, "data"))
    wanted = {k.encode() for k in DIV_KEYS}
    h = hashlib.sha256()
    total = div = 0
    div_found = 0
    for k, v in data:  # storage key and stored value, hex
        h.update(k.encode() + b"=" + v.encode() + b"\n")
        size = (len(k) + len(v)) // 2
        total += size
        if bytes.fromhex(k)[6:] in wanted:
            div += size
            div_found += 1
    return {"sha256": h.hexdigest(), "records": len(data), "bytes": total,
            "divergent_bytes": div, "divergent_found": div_found}


mode = sys.argv[1]

if mode == "idle":
    poll_loop(float(sys.argv[2]), None, "idle_polls.json")

elif mode == "diverge":
    # Blind puts: each key gains a second sibling on n1 and n2.
    frames = [(i + 1, harness.put_frame(i + 1, k.encode(),
                                        ("aae-%s-" % k).encode().ljust(100, b"x")))
              for i, k in enumerate(DIV_KEYS)]
    replies = th.spread(lambda n: hostport(n), ["n1", "n2"], frames)
    bad = [r for r in replies.values() if r["tag"] != harness.TAG_PUT_REPLY]
    if len(replies) != DIVERGENT or bad:
        sys.exit("aae: %d of %d rewrites failed, e.g. %s" % (len(bad), DIVERGENT, bad[:2]))
    c1, c2 = local_copies("n1"), local_copies("n2")
    if c1 is None or c1 != c2:
        sys.exit("aae: n1 and n2 do not hold the same rewritten keys")
    two = sum(len(c1[k]) == 2 for k in DIV_KEYS)
    if two != DIVERGENT:
        sys.exit("aae: only %d of %d rewritten keys hold 2 siblings on n1" % (two, DIVERGENT))
    json.dump(c1, open(os.path.join(WORK, "reference.json"), "w"))
    say("%d keys rewritten through n1 and n2 (2 siblings each there; n3 down)" % DIVERGENT)

elif mode == "baseline":
    st = statuses(("n1", "n2"))
    if any(s is None for s in st.values()):
        sys.exit("aae: n1 or n2 did not answer `aae status`")
    json.dump({"t0": time.time(), "status": st}, open(os.path.join(WORK, "baseline.json"), "w"))

elif mode == "converge":
    reference = {k: [tuple(x) for x in v]
                 for k, v in json.load(open(os.path.join(WORK, "reference.json"))).items()}
    t0 = json.load(open(os.path.join(WORK, "baseline.json")))["t0"]
    done = poll_loop(float(sys.argv[2]), reference, "converge_polls.json", t0)
    if done is None:
        sys.exit("aae: n3 still differs after the wait")
    # n1's copies did not change meanwhile (n3's old siblings are dominated).
    if local_copies("n1") != reference:
        sys.exit("aae: n1's copies of the rewritten keys changed during the repair")
    say("converged %.1f s after `ring start`" % (done - t0))

elif mode == "verify":
    deadline = time.time() + float(sys.argv[2])
    while True:
        digests = {n: dump_digest(n) for n in ("n1", "n2", "n3")}
        same = len({d["sha256"] for d in digests.values()}) == 1
        say("dumps: " + ", ".join("%s %d records %s" % (n, d["records"], d["sha256"][:12])
                                  for n, d in digests.items()))
        if same or time.time() > deadline:
            break
        time.sleep(5)
    json.dump({"identical": same, "digests": digests},
              open(os.path.join(WORK, "verify.json"), "w"), indent=1)
    if not same:
        sys.exit("aae: the replicas' objects still differ after the foreground run")
PY

# SHOAL_BIN_DIR: where test_aae's reader finds shoald.
SHOAL_BIN_DIR=$BIN_DIR
export ROOT SHOAL SHOAL_BIN_DIR RING WORK KEYS DIVERGENT FG_KEYS
driver() { python3 "$WORK/driver.py" "$@"; }

# ---- 1. the ring and the data set -------------------------------------------------
BASE=$(free_ring_base 3 28400)
log "work directory $WORK; ring on ports $((BASE + 1))..$((BASE + 3))"
RING_STARTED=1
"$SHOAL" ring up --dir "$RING" --nodes 3 --n 3 --w 2 --r 2 --base-port "$BASE" \
  --fresh >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "ring up failed"; }
# Handoff off, a map large enough for the data set: stop, edit, start again.
"$SHOAL" ring down --dir "$RING" >/dev/null
for n in n1 n2 n3; do
  python3 - "$RING/$n/node.toml" <<'PY'
import os, sys, tomllib
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "cluster"))
from harness import set_toml
path = sys.argv[1]
text = open(path).read()
text = set_toml(text, "handoff", {"enabled": "false"})
text = set_toml(text, "storage", {"map_size": str(8 << 30)})
tomllib.loads(text)
open(path, "w").write(text)
PY
done
"$SHOAL" ring up --dir "$RING" >"$WORK/up2.log" 2>&1 || { cat "$WORK/up2.log" >&2; die "ring up (2) failed"; }
export N1=127.0.0.1:$((BASE + 1)) N2=127.0.0.1:$((BASE + 2)) N3=127.0.0.1:$((BASE + 3))
FG_NODES=$N1,$N2

log "loading $KEYS keys of $VALUE_SIZE B"
timeout 3600 "$SHOAL" bench --dir "$RING" --load --workload w --keys "$KEYS" \
  --value-size "$VALUE_SIZE" --ops 1 --concurrency 64 --seed 1000 --json \
  >"$WORK/load.json" 2>"$WORK/load.err" || { tail -5 "$WORK/load.err" >&2; die "load failed"; }
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["load"]["errors"] == {} else "aae: load errors %s" % d["load"]["errors"])' "$WORK/load.json"

# trees_ready ADDR: exit 0 when every Merkle tree of the node is ready.
trees_ready() {
  "$SHOAL" aae status --json --node "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["trees"] > 0 and d["trees_ready"] == d["trees"] else 1)'
}
log "waiting for every node's Merkle trees"
TREES_START=$SECONDS
for addr in "$N1" "$N2" "$N3"; do
  until trees_ready "$addr"; do
    ((SECONDS - TREES_START < MAX_WAIT)) || die "trees not ready on $addr after $MAX_WAIT s"
    sleep 1
  done
done
log "trees ready ($((SECONDS - TREES_START)) s after the load)"

# foreground NAME SEED: the foreground run, stdout JSON and CSV in $WORK/NAME.*,
# stderr progress lines time-stamped in $WORK/NAME.err.
foreground() {
  "$SHOAL" bench --nodes "$FG_NODES" --workload a --keys "$FG_KEYS" \
    --value-size "$VALUE_SIZE" --rate "$RATE" --concurrency "$FG_CONNS" \
    --duration "$DURATION" --seed "$2" --json --csv "$WORK/$1.csv" \
    2>&1 >"$WORK/$1.json" | stamp >"$WORK/$1.err"
}

# ---- 2. idle ---------------------------------------------------------------------
log "idle: $RATE ops/s (workload a over $FG_KEYS keys) for $DURATION s; replicas agree"
driver idle "$DURATION" &
IDLE_PID=$!
BG_PIDS+=("$IDLE_PID")
foreground idle 1 || { tail -5 "$WORK/idle.err" >&2; die "the 'idle' run failed"; }
wait "$IDLE_PID" || die "the idle poller failed"
BG_PIDS=()

# ---- 3. the divergence -------------------------------------------------------------
"$SHOAL" ring kill "$DOWN" --dir "$RING" >/dev/null
log "killed $DOWN; rewriting $DIVERGENT keys through n1 and n2"
driver diverge

# ---- 4. during -----------------------------------------------------------------------
driver baseline
log "during: \`ring start $DOWN\`, then the same foreground run; polling $DOWN's copies"
"$SHOAL" ring start "$DOWN" --dir "$RING" >"$WORK/start.log" 2>&1 ||
  { cat "$WORK/start.log" >&2; die "ring start $DOWN failed"; }
foreground during 2 &
FG_PID=$!
BG_PIDS+=("$FG_PID")
driver converge "$MAX_WAIT" || die "no convergence (see $WORK/converge_polls.json)"
wait "$FG_PID" || { tail -5 "$WORK/during.err" >&2; die "the 'during' run failed"; }
BG_PIDS=()

# ---- 5. the replicas' own stores -----------------------------------------------------
log "comparing the three replicas' objects (shoald dump)"
driver verify 120

# ---- report ------------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
export STARTED_AT="$(date '+%Y-%m-%d %H:%M:%S %Z')" CPU NCPU="$(nproc)" KERNEL="$(uname -r)" \
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (the working tree has uncommitted changes)' || true)" \
  RATE DURATION FG_CONNS BIN_DIR VALUE_SIZE BUILD_NOTE \
  AAE_CFG="$("$BIN_DIR/shoald" --config "$RING/n1/node.toml" --print-config | python3 -c '
import sys, tomllib
a = tomllib.loads(sys.stdin.read()).get("antientropy", {})
print(", ".join("%s = %s" % (k, str(v).lower() if isinstance(v, bool) else v)
                for k, v in a.items()) or "(none printed)")')"
python3 - "$WORK" <<'PY'
import csv, json, os, re, statistics, sys
work = sys.argv[1]
e = os.environ
nan = float("nan")

def load(name):
    return json.load(open(os.path.join(work, name)))

def n(x):
    return "{:,.0f}".format(x)

base = load("baseline.json")
conv = load("converge_polls.json")
ver = load("verify.json")
t0, t1 = base["t0"], conv["done"]
# The last poll holds the status taken when convergence was seen.
end_status = conv["polls"][-1]["status"]
def total(field, st):
    return sum(s[field] for s in st.values() if s)
sent = total("bytes", end_status) - total("bytes", base["status"])
repaired = total("keys_repaired", end_status) - total("keys_repaired", base["status"])
exchanges = total("exchanges", end_status) - total("exchanges", base["status"])
first = next(p for p in conv["polls"] if "differing" in p)
d1 = ver["digests"]["n1"]
differing = d1["divergent_bytes"]
dataset = d1["bytes"]
seconds = t1 - t0
trees_s = conv["trees_ready"] - t0 if conv["trees_ready"] else nan
prev = [p["t"] for p in conv["polls"] if p.get("differing", 1) > 0]
lower_s = (prev[-1] - t0) if prev else 0.0

idle_polls = load("idle_polls.json")["polls"]
st_idle = [p["status"] for p in idle_polls if "status" in p
           and all(s is not None for s in p["status"].values())]
idle_rate = nan
if len(st_idle) >= 2:
    dt = [p["t"] for p in idle_polls if "status" in p][-1] - [p["t"] for p in idle_polls if "status" in p][0]
    idle_rate = (total("bytes", st_idle[-1]) - total("bytes", st_idle[0])) / dt if dt > 0 else nan
    idle_repaired = total("keys_repaired", st_idle[-1]) - total("keys_repaired", st_idle[0])
else:
    idle_repaired = nan

def summary(name):
    with open(os.path.join(work, name + ".csv", "summary.csv")) as f:
        for r in csv.DictReader(f):
            if r["op"] == "total":
                return r

def seconds_p99(name):
    out = []
    for line in open(os.path.join(work, name + ".err")):
        m = re.match(r"(\d+\.\d+) \[\s*(\d+)s\].*p99 ([\d.]+) ms", line)
        if m:
            out.append((float(m.group(1)), int(m.group(2)), float(m.group(3))))
    return out

runs = {}
for name in ("idle", "during"):
    doc = load(name + ".json")
    tot = summary(name)
    secs = seconds_p99(name)
    if name == "during":
        window = [p for (ts, s, p) in secs if ts - 1 < t1]   # seconds overlapping the repair
    else:
        window = [p for (ts, s, p) in secs if s > 1]
    runs[name] = {"p50": float(tot["p50_us"]) / 1000, "p99": float(tot["p99_us"]) / 1000,
                  "errors": sum(doc["errors"].values()), "shed": doc.get("shed", 0),
                  "worst": max(window) if window else nan,
                  "median": statistics.median(window) if window else nan,
                  "seconds": len(window)}
i, d = runs["idle"], runs["during"]

def note():
    if e.get("BUILD_NOTE"):
        return e["BUILD_NOTE"]
    return "binaries in %s; repository at %s%s" % (e["BIN_DIR"], e["COMMIT"], e["DIRTY"])

lines = [
    "### aae.sh, %s" % e["STARTED_AT"],
    "",
    "- Machine: %s, %s CPUs (nproc), kernel %s; shoal: %s." % (e["CPU"], e["NCPU"], e["KERNEL"], note()),
    "- 3-node ring n=3 w=2 r=2, handoff off, anti-entropy: %s; %s keys of %s B; n3 killed, %s of "
    "them (%.2f %%) rewritten blind through n1 and n2, n3 started again. Foreground: workload a, "
    "%s ops/s open loop over user0..user%d (disjoint from the rewritten keys), through n1 and n2, "
    "%s connections, %s s." %
    (e["AAE_CFG"], n(int(e["KEYS"])), e["VALUE_SIZE"], n(int(e["DIVERGENT"])),
     100.0 * int(e["DIVERGENT"]) / int(e["KEYS"]), n(int(e["RATE"])), int(e["FG_KEYS"]) - 1,
     e["FG_CONNS"], e["DURATION"]),
    "",
    "| repair | |",
    "|---|---:|",
    "| keys differing on n3 at the first poll | %s of %s |" % (n(first["differing"]), n(int(e["DIVERGENT"]))),
    "| n3's trees ready, s after `ring start` (first status poll showing them) | ≤ %.1f |" % trees_s,
    "| n3's copies all equal to n1's, s after `ring start` | %.1f (still differing at +%.1f) |" % (seconds, lower_s),
    "| exchanges run meanwhile (3 nodes) | %s |" % n(exchanges),
    "| keys repaired meanwhile (`aae status`, 3 nodes) | %s |" % n(repaired),
    "| bytes sent by anti-entropy meanwhile (`aae status` bytes, 3 nodes) | %s |" % n(sent),
    "| bytes that differed (the %s records: storage key + object, n1's final copy) | %s |" % (n(d1["divergent_found"]), n(differing)),
    "| sent ÷ differing | %.1f× |" % (sent / differing if differing else nan),
    "| data set (one replica's `objects`: %s records) | %s bytes |" % (n(d1["records"]), n(dataset)),
    "| anti-entropy traffic as %% of the data set | %.3f %% |" % (100.0 * sent / dataset),
    "| idle anti-entropy traffic (3 nodes, during the idle run) | %s B/s; %s keys repaired |" % (n(idle_rate), n(idle_repaired)),
    "| replicas' `objects` identical after the run (shoald dump) | %s |" % ("yes" if ver["identical"] else "NO"),
    "",
    "| foreground (%s ops/s) | p50 ms | p99 ms | worst 1-s p99 ms | median 1-s p99 ms | errors | shed |" % n(int(e["RATE"])),
    "|---|---:|---:|---:|---:|---:|---:|",
    "| idle: exchanges, nothing to repair | %.3f | %.3f | %.3f | %.3f | %d | %d |" % (i["p50"], i["p99"], i["worst"], i["median"], i["errors"], i["shed"]),
    "| during: n3 restarted, trees built, repair | %.3f | %.3f | %.3f | %.3f | %d | %d |" % (d["p50"], d["p99"], d["worst"], d["median"], d["errors"], d["shed"]),
    "",
    "Keys repaired and bytes sent cover everything the three nodes' exchanges did between "
    "`ring start` and convergence: besides the %s rewritten keys, foreground writes whose third "
    "replica had not applied them yet when an exchange looked (as in the idle run), and the "
    "idle exchanges of agreeing partitions (about %s B/s, so about %s B of the total)." %
    (n(int(e["DIVERGENT"])), n(idle_rate), n(idle_rate * seconds)),
    "",
    "One-second p99s come from the bench's progress lines (idle: every second but the first; "
    "during: the %d seconds up to convergence). p99 during/idle: %.2f× over the whole runs, "
    "%.2f× worst second against worst second." % (d["seconds"], d["p99"] / i["p99"], d["worst"] / i["worst"]),
    "",
]
text = "\n".join(lines)
open(os.path.join(work, "report.md"), "w").write(text)
print(text)
PY
