#!/usr/bin/env bash
# bench/limits.sh: how a node holds up against slow and idle connections,
# overload and blind writers (issue 12). Started by a user, never by
# `make test`; it builds nothing. Run it on an otherwise idle machine.
#
#   bench/limits.sh                      # the binaries in build/bin
#   BIN_DIR=/tmp/old/bin bench/limits.sh # e.g. an older build, to compare
#
# Scenarios, each on a fresh local ring:
#   stalled   1 node: 64 connections each send a frame header announcing
#             16 MiB and stall. RssAnon growth, a concurrent client's p99
#             against its baseline (closed loop, 4 connections, 4 s), and
#             how many stalled connections the node closed within 30 s.
#   idle      1 node: 2,000 connections that send nothing. RssAnon growth,
#             whether a new client is answered meanwhile, how many the node
#             closed within 20 s (builds with limits: idle_timeout 10 s,
#             max_connections 1,000).
#   overload  1 node, then 3 nodes (n=3 w=2 r=2): the closed-loop peak
#             (32 connections, 5 s), then open loop at 5x that rate for
#             10 s (uniform keys): completed ops/s, errors by kind, p99 of
#             the successful requests, RssAnon peak; then, 5 s after, p99
#             against the baseline.
#   siblings  3 nodes: 16 blind writers on one key for 10 s: the most
#             siblings any replica holds afterwards, errors by kind.
# Prints one markdown table per scenario and appends them, dated, to
# doc/perf.md unless APPEND=0.
#
# Environment: BIN_DIR (build/bin), PERF_MD (doc/perf.md), APPEND (1),
# KEEP=1 (keep the work directory), SCENARIOS (default "stalled idle
# overload siblings"), BUILD_NOTE (what the binaries are, for the report).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/build/bin}
PERF_MD=${PERF_MD:-$ROOT/doc/perf.md}
APPEND=${APPEND:-1}
KEEP=${KEEP:-0}
SCENARIOS=${SCENARIOS:-stalled idle overload siblings}
BUILD_NOTE=${BUILD_NOTE:-}

die() { echo "limits: $*" >&2; exit 1; }
log() { echo "limits: $*" >&2; }
[[ -x $BIN_DIR/shoal && -x $BIN_DIR/shoald ]] || die "no shoal/shoald in $BIN_DIR (build first, or set BIN_DIR)"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-limits.XXXXXX")
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $KEEP == 1 || $rc != 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
BASE=$(free_ring_base 3 26300)

REPORT=$WORK/report.md
python3 - "$BIN_DIR" "$WORK" "$BASE" "$REPORT" $SCENARIOS <<'PY'
import json, os, socket, struct, subprocess, sys, threading, time

bin_dir, work, base, report = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
scenarios = sys.argv[5:]
shoal = os.path.join(bin_dir, "shoal")


def log(msg):
    print(f"limits: {msg}", file=sys.stderr, flush=True)


def run(*args, timeout=300, check=True):
    p = subprocess.run([shoal, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise SystemExit(f"shoal {' '.join(args)} failed: {p.stdout[-500:]} {p.stderr[-1500:]}")
    try:
        return json.loads(p.stdout)
    except ValueError:
        return p.stdout


# Whether this build has the [limits] keys of issue 12: shoald refuses
# unknown keys, so --print-config of a config using one tells.
probe = os.path.join(work, "probe.toml")
with open(probe, "w") as f:
    f.write('name = "n1"\n[cluster]\nn = 1\nw = 1\nr = 1\n'
            'members = [{ name = "n1", address = "127.0.0.1:1" }]\n'
            '[limits]\nframe_timeout = "10s"\n')
has_limits = subprocess.run([os.path.join(bin_dir, "shoald"), "--config", probe, "--print-config"],
                            capture_output=True, text=True).returncode == 0


class Ring:
    def __init__(self, name, nodes, n, limits=None):
        self.dir = os.path.join(work, name)
        self.nodes = nodes
        run("ring", "up", "--dir", self.dir, "--nodes", str(nodes), "--n", str(n),
            "--w", str(min(n, 2)), "--r", str(min(n, 2)), "--base-port", str(base),
            "--fresh", "--json")
        if limits and has_limits:
            run("ring", "down", "--dir", self.dir, "--json")
            for i in range(1, nodes + 1):
                path = os.path.join(self.dir, f"n{i}", "node.toml")
                text = open(path).read()  # `ring up` writes no [limits] table
                text += "\n[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
                open(path, "w").write(text)
            run("ring", "up", "--dir", self.dir, "--nodes", str(nodes), "--n", str(n),
                "--w", str(min(n, 2)), "--r", str(min(n, 2)), "--base-port", str(base),
                "--json")
        status = run("ring", "status", "--dir", self.dir, "--json")
        self.members = {m["name"]: m for m in status["nodes"]}
        deadline = time.time() + 15
        while time.time() < deadline:
            views = [run("status", "--dir", self.dir, "--node", m["address"], "--json", check=False)
                     for m in self.members.values()]
            if all(isinstance(v, dict) and all(x["up"] for x in v.get("members", [])) for v in views):
                break
            time.sleep(0.2)

    def pid(self, name="n1"):
        return self.members[name]["pid"]

    def address(self, name="n1"):
        host, port = self.members[name]["address"].rsplit(":", 1)
        return host, int(port)

    def bench(self, *args, may_fail=False):
        """The bench's JSON summary; with may_fail, a run that could not
        start (no target answered) comes back as {"failed": message}."""
        out = run("bench", "--dir", self.dir, *args, "--json", timeout=600, check=not may_fail)
        if isinstance(out, dict) and out.get("ok") is False:
            return {"failed": out["error"]["message"]}
        if not isinstance(out, dict):
            return {"failed": str(out)[-200:]}
        return out

    def down(self):
        run("ring", "down", "--dir", self.dir, "--json", check=False)


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


class Peak:
    def __init__(self, pid):
        self.pid, self.kb, self.stop_ = pid, rss_kb(pid), threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop_.wait(0.2):
            try:
                self.kb = max(self.kb, rss_kb(self.pid))
            except OSError:
                return

    def stop(self):
        self.stop_.set()
        self.t.join()
        return self.kb


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def closed_count(socks):
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            while True:
                if not s.recv(65536):
                    n += 1
                    break
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n


def p99_text(summary):
    if "failed" in summary:
        return f"no run ({summary['failed'][:70]})"
    return f"{ok_p99_ms(summary):.2f} ms"


def ok_p99_ms(summary):
    ok = summary.get("ok")
    if ok is not None:
        return ok["p99_us"] / 1000
    # Builds without separate ok quantiles: the worst operation's p99.
    return max(op["p99_us"] for op in summary["operations"].values()) / 1000


def errors(summary):
    if "failed" in summary:
        return "the run could not start"
    return ", ".join(f"{k} {v:,}" for k, v in sorted(summary["errors"].items())) or "none"


out = []


def table(title, rows):
    out.append(f"**{title}**\n\n| measure | value |\n|---|---|")
    out.extend(f"| {k} | {v} |" for k, v in rows)
    out.append("")


def stalled():
    log("stalled: 64 frame headers announcing 16 MiB")
    ring = Ring("stalled", 1, 1)
    try:
        load = ["--workload", "a", "--keys", "2000", "--concurrency", "4", "--duration", "4"]
        ring.bench(*load, "--load")
        before = ring.bench(*load)
        rss0 = rss_kb(ring.pid())
        host, port = ring.address()
        socks = []
        for _ in range(64):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(struct.pack("<I", 16 << 20) + b"\0\0\0\0")
            socks.append(s)
        t0 = time.time()
        peak = Peak(ring.pid())
        during = ring.bench(*load, may_fail=True)
        kb = peak.stop()
        closed, closed_at = 0, None
        while time.time() - t0 < 30:
            closed = closed_count(socks)
            if closed == len(socks):
                closed_at = time.time() - t0
                break
            time.sleep(0.2)
        table("64 stalled 16 MiB frame headers (1 node)", [
            ("RssAnon before / peak", f"{rss0 / 1024:.1f} / {kb / 1024:.1f} MB"),
            ("client p99 alone / beside the stalled connections",
             f"{p99_text(before)} / {p99_text(during)}"),
            ("client errors beside them", errors(during)),
            ("stalled connections closed by the node within 30 s",
             f"{closed} of 64" + (f" (all after {closed_at:.1f} s)" if closed_at else "")),
        ])
        for s in socks:
            s.close()
    finally:
        ring.down()


def idle():
    log("idle: 2,000 silent connections")
    ring = Ring("idle", 1, 1, {"idle_timeout": '"10s"', "max_connections": "1000"})
    try:
        rss0 = rss_kb(ring.pid())
        host, port = ring.address()
        peak = Peak(ring.pid())
        socks = [socket.create_connection((host, port), timeout=5) for _ in range(2000)]
        t0 = time.time()
        time.sleep(1)
        answer = run("status", "--dir", ring.dir, "--json", check=False, timeout=30)
        if isinstance(answer, dict) and "error" in answer:
            served = f"refused: {answer['error']['code']} ({answer['error']['message'][:80]}...)"
        elif isinstance(answer, dict):
            served = "answered"
        else:
            served = f"no answer ({str(answer)[:60]})"
        closed = 0
        while time.time() - t0 < 20:
            closed = closed_count(socks)
            if closed == len(socks):
                break
            time.sleep(0.5)
        kb = peak.stop()
        table("2,000 idle connections (1 node)", [
            ("limits", "idle_timeout 10 s, max_connections 1,000" if has_limits else "none (build without them)"),
            ("RssAnon before / peak", f"{rss0 / 1024:.1f} / {kb / 1024:.1f} MB"),
            ("a new client's status request meanwhile", served),
            ("connections closed by the node within 20 s", f"{closed:,} of 2,000"),
            ("node alive", "yes" if alive(ring.pid()) else "NO"),
        ])
        for s in socks:
            s.close()
    finally:
        ring.down()


def overload(nodes):
    log(f"overload: {nodes} node(s), 5x the peak")
    ring = Ring(f"overload{nodes}", nodes, min(nodes, 3))
    try:
        keys = ["--keys", "20000", "--distribution", "uniform"]
        ring.bench("--workload", "a", *keys, "--load", "--ops", "1")
        peak = ring.bench("--workload", "a", *keys, "--concurrency", "32", "--duration", "5")
        light = ["--workload", "a", *keys, "--concurrency", "4", "--duration", "3"]
        base_run = ring.bench(*light)
        pids = [ring.pid(n) for n in ring.members]
        peaks = [Peak(p) for p in pids]
        rate = int(5 * peak["ops_per_s"])
        over = ring.bench("--workload", "a", *keys, "--concurrency", "32", "--rate", str(rate),
                          "--duration", "10", may_fail=True)
        kb = max(p.stop() for p in peaks)
        time.sleep(5)
        after = ring.bench(*light, may_fail=True)
        if "failed" in over:
            table(f"Open loop at 5x the peak for 10 s ({nodes} nodes)",
                  [("run", f"failed: {over['failed']}")])
            return
        ok = over.get("ok", {}).get("count")
        table(f"Open loop at 5x the peak for 10 s ({nodes} node{'s' if nodes > 1 else ''})", [
            ("closed-loop peak (32 connections)", f"{peak['ops_per_s']:,.0f} ops/s"),
            ("asked / completed", f"{rate:,} / {over['ops_per_s']:,.0f} ops/s "
                                  f"({over['shed']:,} not sent: the client's own 10,000 in flight)"),
            ("successful requests", f"{ok:,} ({ok / over['duration_s']:,.0f}/s)" if ok is not None
             else f"not reported by this build (errors below of {over['ops']:,})"),
            ("errors", errors(over)),
            ("p99 of the successful requests" if "ok" in over
             else "p99 (this build: of every request, errors included)", f"{ok_p99_ms(over):.1f} ms"),
            ("RssAnon peak (largest node)", f"{kb / 1024:.1f} MB"),
            ("p99 before / 5 s after", f"{p99_text(base_run)} / {p99_text(after)}"),
            ("nodes alive", "yes" if all(alive(p) for p in pids) else "NO"),
        ])
    finally:
        ring.down()


def siblings():
    log("siblings: 16 blind writers on one key")
    ring = Ring("siblings", 3, 3)
    try:
        run_ = ring.bench("--workload", "w", "--keys", "1", "--blind", "--concurrency", "16",
                          "--duration", "10")
        most = 0
        for name, m in ring.members.items():
            got = run("get", "user0", "--local", "--dir", ring.dir, "--node", m["address"], "--json")
            most = max(most, len(got.get("siblings", [])))
        table("16 blind writers on one key for 10 s (3 nodes)", [
            ("writes", f"{run_['ops']:,} ({run_['ops_per_s']:,.0f}/s)"),
            ("errors", errors(run_)),
            ("most siblings on a replica afterwards", f"{most:,}"),
        ])
    finally:
        ring.down()


for name in scenarios:
    if name == "stalled":
        stalled()
    elif name == "idle":
        idle()
    elif name == "overload":
        overload(1)
        overload(3)
    elif name == "siblings":
        siblings()
    else:
        raise SystemExit(f"unknown scenario {name}")

with open(report, "w") as f:
    f.write("\n".join(out) + "\n")
PY

{
  echo
  echo "### bench/limits.sh, $(date -u +%Y-%m-%d)"
  echo
  echo "Binaries: \`$BIN_DIR\`${BUILD_NOTE:+ ($BUILD_NOTE)}; $(nproc) CPUs. Command: \`BIN_DIR=$BIN_DIR bench/limits.sh\`."
  echo
  cat "$REPORT"
} >"$WORK/section.md"
cat "$WORK/section.md"
if [[ $APPEND == 1 ]]; then
  cat "$WORK/section.md" >>"$PERF_MD"
  log "appended to $PERF_MD"
fi
