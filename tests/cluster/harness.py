"""Test harness for shoal cluster scenarios: real shoald processes on 127.0.0.1.

A `Ring` runs `shoal ring up` in a temporary directory, talks to its nodes
through the `shoal` CLI (always with --json) and stops it with `shoal ring
down` when the test ends, whether it passed or not. `RingTestCase` gives each
test method a fresh ring and checks afterwards that no node crashed.

Readiness: `shoal ring up` returns once every node answers a status request,
which is before the nodes' peer links are connected. Ring.up() and
Ring.start() therefore also wait until every live node sees every other live
node up (`wait_ready`), unless asked not to; test_ring_cli checks the
launcher's own promise without that wait.

Binaries: the directory holding `shoal` and `shoald` comes from --bin-dir DIR
on the command line (see `main`) or the SHOAL_BIN_DIR environment variable.

Ports: node i listens on base_port + i (clients and peers) and base_port +
100 + i (metrics). Every test file uses its own base port (a constant in
20000..29000, overridable with SHOAL_TEST_PORT) so files never collide, and
the ports are checked to be free before a ring starts.

Raw frames: tests that talk to a node's socket directly make their frames
and read the replies through the schema (wire/frame.capnp) with the `capnp`
tool (`capnp convert`; Debian package capnproto, installed by
scripts/setup.sh): see "frames" below.

Set SHOAL_KEEP_DIR=1 to keep the ring directories (logs, data) of the run.

Python 3.11 standard library only (and the capnp program).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import struct as _struct
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest
from typing import Any, Callable, Iterable

HOST = "127.0.0.1"
# How long one CLI invocation may take before the test gives up on it.
CLI_TIMEOUT_S = 60.0

_bin_dir: str | None = None


def bin_dir() -> str:
    """The directory with the shoal and shoald binaries (--bin-dir or SHOAL_BIN_DIR)."""
    d = _bin_dir or os.environ.get("SHOAL_BIN_DIR")
    if not d:
        raise RuntimeError(
            "set SHOAL_BIN_DIR (or pass --bin-dir DIR) to the directory holding "
            "the shoal and shoald binaries, e.g. build/bin")
    d = os.path.abspath(d)
    for exe in ("shoal", "shoald"):
        path = os.path.join(d, exe)
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} is missing or not executable (build it first)")
    return d


def shoal_path() -> str:
    return os.path.join(bin_dir(), "shoal")


def base_port(default: int) -> int:
    """SHOAL_TEST_PORT when set, else the file's own constant."""
    value = os.environ.get("SHOAL_TEST_PORT")
    return int(value) if value else default


def port_free(port: int) -> bool:
    """True when a listener could bind 127.0.0.1:port (as shoald does, with
    SO_REUSEADDR, so connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def ring_ports(base: int, nodes: int) -> list[int]:
    return [base + i for i in range(1, nodes + 1)] + [
        base + 100 + i for i in range(1, nodes + 1)
    ]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.05) -> Any:
    """Polls `predicate` until it returns a truthy value (returned) or
    `timeout` seconds pass (AssertionError naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def _parse(out: str) -> Any:
    try:
        return json.loads(out)
    except ValueError:
        return out


class CliError(AssertionError):
    pass


def run_shoal(args: Iterable[str], expect_ok: bool = True,
              timeout: float = CLI_TIMEOUT_S,
              stdin: bytes | None = None) -> tuple[int, Any, str]:
    """Runs `shoal ARGS`; returns (exit code, stdout parsed as JSON when it
    is JSON else the text, stderr). With expect_ok, a non-zero exit raises
    CliError carrying both outputs."""
    cmd = [shoal_path(), *args]
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise CliError(f"{' '.join(cmd)} did not finish within {timeout} s") from e
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if expect_ok and proc.returncode != 0:
        raise CliError(
            f"{' '.join(cmd)!s:.600} exited {proc.returncode}\n"
            f"stdout: {out[:2000]}\nstderr: {err[:2000]}")
    return proc.returncode, _parse(out), err


class Ring:
    """A local shoal ring in a temporary directory.

    ring = Ring(nodes=3, n=3, w=2, r=2, base_port=22000)
    ring.up()            # shoal ring up ... --json, then wait_ready()
    ring.shoal("put", "k", "v", node="n1")  -> (0, {"ok": true, ...})
    ring.down()          # idempotent; kills leftovers, removes the directory

The caller owns cleanup: register ring.down (addCleanup) before ring.up().
    """

    def __init__(self, nodes: int = 3, n: int = 3, w: int = 2, r: int = 2,
                 base_port: int = 22000, extra_up_args: Iterable[str] = ()):
        self.nodes = nodes
        self.n, self.w, self.r = n, w, r
        self.base_port = base_port
        self.extra_up_args = list(extra_up_args)
        self.tmp = tempfile.mkdtemp(prefix="shoal-cluster-")
        self.dir = os.path.join(self.tmp, "ring")
        self.up_json: dict | None = None
        # name -> {"address", "metrics_address", "pid", "log", ...} from ring up
        self.members: dict[str, dict] = {}
        # Names the test stopped on purpose (kill); the rest must stay running.
        self.expected_down: set[str] = set()
        self.is_up = False

    # ---- lifecycle ----

    def up(self, wait_ready: bool = True) -> dict:
        """`shoal ring up ... --json`; returns its JSON. With wait_ready,
        also waits until every node sees every member up (wait_ready())."""
        self.is_up = True  # from here on down() must run, even if up fails
        _, out, _ = run_shoal(self._up_args() + ["--json"])
        if not isinstance(out, dict) or "nodes" not in out:
            raise CliError(f"ring up printed no ring JSON: {out!r}")
        self.up_json = out
        self.members = {m["name"]: m for m in out["nodes"]}
        if wait_ready:
            self.wait_ready()
        return out

    def reconfigure(self, sections: dict[str, dict[str, str]]) -> None:
        """Stops the ring, sets `sections` ({table: {key: TOML value as
        text}}) in every node.toml, starts the ring again and checks that
        shoald reads the values (`--print-config`). A table the launcher
        already wrote is edited in place (a second [table] would be invalid
        TOML)."""
        run_shoal(["ring", "down", "--dir", self.dir, "--json"])
        for name in self.names:
            path = self.members[name]["config"]
            with open(path) as f:
                text = f.read()
            for section, values in sections.items():
                text = set_toml(text, section, values)
            tomllib.loads(text)  # still valid TOML
            with open(path, "w") as f:
                f.write(text)
            printed = subprocess.run(
                [os.path.join(bin_dir(), "shoald"), "--config", path,
                 "--print-config"], capture_output=True, text=True, timeout=10)
            if printed.returncode != 0:
                raise CliError(f"{name}: shoald --print-config failed: {printed}")
            effective = tomllib.loads(printed.stdout)
            for section, values in sections.items():
                for key, value in values.items():
                    want = tomllib.loads(f"v = {value}")["v"]
                    got = effective.get(section, {}).get(key)
                    if got != want:
                        raise CliError(f"{name}: [{section}] {key} is {got!r} in "
                                       f"--print-config, not {want!r}")
        self.up()

    def views(self, names: Iterable[str] | None = None) -> dict[str, dict[str, bool]]:
        """{asked node: {member: up as that node sees it}} from `shoal status`."""
        views = {}
        for name in names if names is not None else self.names:
            code, out = self.shoal("status", node=name, expect_ok=False)
            if code == 0:
                views[name] = {m["name"]: m["up"] for m in out["members"]}
        return views

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Waits until every node not killed by the test answers `status`
        and sees every such node up (its peer links are connected)."""
        live = [n for n in self.names if n not in self.expected_down]

        def ready():
            views = self.views(live)
            return len(views) == len(live) and all(
                views[a].get(b) is True for a in live for b in live)

        try:
            wait_until(ready, timeout, "every node to see every other node up", interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.views(live)}") from None

    def up_text(self) -> tuple[str, str]:
        """`shoal ring up ...` as a person runs it (no --json); returns
        (stdout, stderr). Members are then read from `ring status`."""
        self.is_up = True
        _, out, err = run_shoal(self._up_args())
        self.members = {m["name"]: m for m in self.ring_status()["nodes"]}
        return out, err

    def _up_args(self) -> list[str]:
        busy = [p for p in ring_ports(self.base_port, self.nodes) if not port_free(p)]
        if busy:
            raise RuntimeError(
                f"ports {busy} on {HOST} are in use; pick another base port "
                f"with SHOAL_TEST_PORT (now {self.base_port})")
        return ["ring", "up", "--nodes", str(self.nodes), "--n", str(self.n),
                "--w", str(self.w), "--r", str(self.r), "--dir", self.dir,
                "--base-port", str(self.base_port), *self.extra_up_args]

    def down(self) -> None:
        if self.is_up:
            self.is_up = False
            try:
                run_shoal(["ring", "down", "--dir", self.dir, "--json"], expect_ok=False)
            except Exception as e:  # e.g. the binary vanished mid-rebuild
                sys.stderr.write(f"[harness] ring down failed: {e}\n")
            # Belt and braces: no shoald of this ring may outlive the test.
            for pid in self.pids_in_proc():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if os.environ.get("SHOAL_KEEP_DIR"):
            sys.stderr.write(f"[harness] kept ring directory {self.dir}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- addresses ----

    @property
    def names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]

    def address(self, name: str) -> str:
        return self.members[name]["address"]

    def host_port(self, name: str) -> tuple[str, int]:
        host, port = self.address(name).rsplit(":", 1)
        return host, int(port)

    def metrics_address(self, name: str) -> str:
        return self.members[name]["metrics_address"]

    # ---- the CLI ----

    def shoal(self, *args: str, node: str | None = None, expect_ok: bool = True,
              timeout: float = CLI_TIMEOUT_S, stdin: bytes | None = None) -> tuple[int, Any]:
        """`shoal ARGS --dir <ring> --json [--node <address of node>]`.
        `node` is a member name ("n1") or a HOST:PORT. Returns (exit code,
        parsed JSON or text). With expect_ok a non-zero exit fails the test."""
        full = list(args) + ["--dir", self.dir, "--json"]
        if node is not None:
            full += ["--node", self.address(node) if node in self.members else node]
        code, out, err = run_shoal(full, expect_ok=expect_ok, timeout=timeout, stdin=stdin)
        if expect_ok and not isinstance(out, (dict, list)):
            raise CliError(f"shoal {' '.join(args)[:200]} printed no JSON: {out!r} / {err!r}")
        return code, out

    def shoal_text(self, *args: str, node: str | None = None) -> tuple[int, str, str]:
        """Like shoal() without --json: (exit code, stdout, stderr) as text."""
        full = list(args) + ["--dir", self.dir]
        if node is not None:
            full += ["--node", self.address(node) if node in self.members else node]
        return run_shoal(full, expect_ok=False)

    def put(self, key: str, value: str, node: str = "n1", *extra: str) -> dict:
        return self.shoal("put", key, value, *extra, node=node)[1]

    def get(self, key: str, node: str = "n1", *extra: str) -> dict:
        return self.shoal("get", key, *extra, node=node)[1]

    def local_get(self, key: str, node_name: str) -> dict:
        """The node's own stored copy (get --local): no quorum, tombstones and vv shown."""
        return self.shoal("get", key, "--local", node=node_name)[1]

    def status(self, node_name: str) -> dict:
        return self.shoal("status", node=node_name)[1]

    # ---- faults ----

    def kill(self, name: str) -> dict:
        """SIGKILL through `shoal ring kill`; asserts the node went from running to stopped."""
        _, action = self.shoal("ring", "kill", name)
        if (action.get("node"), action.get("before"), action.get("after")) != (name, "running", "stopped"):
            raise AssertionError(f"ring kill {name} did not stop a running node: {action}")
        self.expected_down.add(name)
        return action

    def stop(self, name: str) -> dict:
        """A clean stop (SIGTERM) through `shoal ring stop`; asserts the node
        went from running to stopped."""
        _, action = self.shoal("ring", "stop", name)
        if (action.get("node"), action.get("before"), action.get("after")) != (name, "running", "stopped"):
            raise AssertionError(f"ring stop {name} did not stop a running node: {action}")
        self.expected_down.add(name)
        return action

    def start(self, name: str, wait_ready: bool = True) -> dict:
        """`shoal ring start`: restarts with its data and waits until it
        answers; with wait_ready, also until all live nodes see each other up."""
        _, action = self.shoal("ring", "start", name)
        if (action.get("node"), action.get("after")) != (name, "running"):
            raise AssertionError(f"ring start {name} did not leave it running: {action}")
        self.expected_down.discard(name)
        self.members[name]["pid"] = action["pid"]
        if wait_ready:
            self.wait_ready()
        return action

    # ---- inspection ----

    def ring_status(self) -> dict:
        return self.shoal("ring", "status")[1]

    def states(self) -> dict[str, str]:
        return {m["name"]: m["state"] for m in self.ring_status()["nodes"]}

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = os.path.join(self.dir, name, "shoald.log")
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(text.splitlines()[-lines:])

    def check_nodes_alive(self) -> None:
        """Every node the test did not kill is running; else AssertionError
        with the dead nodes' log tails (a crash). Nothing to check before up()."""
        if not self.is_up:
            return
        states = self.states()
        bad = {name: st for name, st in states.items()
               if name not in self.expected_down and st != "running"}
        if bad:
            tails = "\n".join(f"--- {name} log tail ---\n{self.log_tail(name)}" for name in bad)
            raise AssertionError(f"nodes not running (crashed?): {bad}\n{tails}")

    def pids_in_proc(self) -> list[int]:
        """Pids of live shoald processes whose config is in this ring's directory."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                with open(f"/proc/{entry}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if state == b"Z":
                continue
            if argv and os.path.basename(argv[0]) == b"shoald" and any(
                    a.startswith(self.dir.encode() + b"/") for a in argv):
                pids.append(int(entry))
        return pids


class PrometheusQueries:
    """For a TestCase whose `prom` is a Prometheus server's host:port:
    instant queries through its HTTP API."""

    prom: str
    # Prometheus scrapes each second; a value changed now shows within a few.
    SCRAPE_WAIT_S = 15.0

    def query(self, expr: str):
        """The value of an instant query with one result (None if empty)."""
        import urllib.parse
        import urllib.request
        url = (f"http://{self.prom}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.load(resp)
        self.assertEqual(body["status"], "success", body)
        result = body["data"]["result"]
        if not result:
            return None
        self.assertEqual(len(result), 1, f"{expr}: {result}")
        return float(result[0]["value"][1])

    def wait_value(self, expr, pred, what, timeout=None):
        """Polls `expr` until `pred` holds for its value; returns it."""
        last = []

        def check():
            v = self.query(expr)
            last[:] = [v]
            return v is not None and pred(v)
        try:
            wait_until(check, timeout or self.SCRAPE_WAIT_S, what,
                       interval=0.25)
        except AssertionError as e:
            raise AssertionError(f"{e} ({expr} = {last})") from None
        return last[0]


class RingTestCase(unittest.TestCase):
    """Each test method gets a fresh ring (class attributes set the shape).
    After the test, every node it did not kill must still be running."""

    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 22000  # override per file
    EXTRA_UP_ARGS: tuple[str, ...] = ()

    def setUp(self) -> None:
        self.ring = Ring(nodes=self.NODES, n=self.N, w=self.W, r=self.R,
                         base_port=base_port(self.BASE_PORT),
                         extra_up_args=self.EXTRA_UP_ARGS)
        # Cleanups run even when setUp or the test fails.
        self.addCleanup(self.ring.down)
        self.ring.up()

    def tearDown(self) -> None:
        # Runs before the cleanups (ring down); a crash fails the test here.
        self.ring.check_nodes_alive()


class SharedRingTestCase(unittest.TestCase):
    """One ring for the whole class (for tests that do not change membership).
    Each test still checks afterwards that every node is running."""

    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 22000
    EXTRA_UP_ARGS: tuple[str, ...] = ()
    ring: Ring

    @classmethod
    def setUpClass(cls) -> None:
        cls.ring = Ring(nodes=cls.NODES, n=cls.N, w=cls.W, r=cls.R,
                        base_port=base_port(cls.BASE_PORT),
                        extra_up_args=cls.EXTRA_UP_ARGS)
        cls.addClassCleanup(cls.ring.down)
        cls.ring.up()

    def tearDown(self) -> None:
        self.ring.check_nodes_alive()


def main() -> None:
    """unittest.main() that first takes --bin-dir DIR off the command line."""
    global _bin_dir
    argv = list(sys.argv)
    for i, arg in enumerate(argv):
        if arg == "--bin-dir" and i + 1 < len(argv):
            _bin_dir = argv[i + 1]
            del argv[i:i + 2]
            break
        if arg.startswith("--bin-dir="):
            _bin_dir = arg.split("=", 1)[1]
            del argv[i]
            break
    bin_dir()  # fail early with a clear message
    unittest.main(argv=argv)


def set_toml(text: str, section: str, values: dict[str, str]) -> str:
    """`text` with `key = value` for each of `values` in table [section]:
    replaced or added inside the table when it exists, else a new table at
    the end. (Enough TOML for node.toml: top-level [table] headers.)"""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines)
                   if line.strip().replace(" ", "") == f"[{section}]"), None)
    new = [f"{k} = {v}" for k, v in values.items()]
    if header is None:
        return text.rstrip("\n") + "\n\n" + "\n".join([f"[{section}]", *new]) + "\n"
    end = header + 1
    while end < len(lines) and not lines[end].lstrip().startswith("["):
        end += 1
    kept = [line for line in lines[header + 1:end]
            if line.split("=", 1)[0].strip() not in values]
    lines[header + 1:end] = new + kept
    return "\n".join(lines) + "\n"


# ---- frames (doc/wire.md), made and read through the schema ----
#
# Frame = u32 little-endian length | one Cap'n Proto message in the standard
# unpacked serialization (segment table, then the segments) whose root is
# `Frame` (wire/frame.capnp). Frames are never laid out by hand here: `capnp
# convert text:binary` encodes a Frame written in the schema language, e.g.
# `(id = 7, get = (key = 0x"6b"))`, and `capnp convert binary:json` turns a
# reply into JSON, so field offsets and union tags come from the .capnp files
# and cannot drift from them. (Not capnp's "flat" format: that one has no
# segment table, and a frame body has one.) Tests that send malformed bytes
# on purpose (test_bad_input.py) build those by hand.

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRAME_SCHEMA = os.path.join(REPO_ROOT, "wire", "frame.capnp")
# One capnp run converts any number of frames; 10,000 take about a second.
CAPNP_TIMEOUT_S = 120.0


def _capnp_convert(formats: str, data: bytes) -> bytes:
    """`capnp convert FORMATS wire/frame.capnp Frame` with `data` on stdin
    (the schema's import of /capnp/c++.capnp comes from libcapnp-dev)."""
    args = ["convert", formats, FRAME_SCHEMA, "Frame"]
    if formats.endswith(":json"):
        args.insert(2, "--short")  # one document per line
    try:
        proc = subprocess.run(["capnp", *args], input=data, capture_output=True,
                              timeout=CAPNP_TIMEOUT_S)
    except FileNotFoundError as e:
        raise RuntimeError("capnp not found: it comes with the Debian package "
                           "capnproto (scripts/setup.sh installs it)") from e
    if proc.returncode != 0:
        raise AssertionError(f"capnp convert {formats} failed: "
                             f"{proc.stderr.decode('utf-8', 'replace')[:2000]}")
    return proc.stdout


def data(value: bytes) -> str:
    """A Data literal in the schema language (capnp has no empty 0x"")."""
    return f'0x"{value.hex()}"' if value else '""'


def status_request(req_id: int) -> str:
    return f"(id = {req_id}, status = ())"


def get_request(req_id: int, key: bytes, r: int = 0, local: bool = False) -> str:
    """A get; an empty key is left unset (a null pointer)."""
    fields = [f"key = {data(key)}"] if key else []
    if r:
        fields.append(f"r = {r}")
    if local:
        fields.append("local = true")
    return f"(id = {req_id}, get = ({', '.join(fields)}))"


def put_request(req_id: int, key: bytes, value: bytes, context: bytes = b"",
                w: int = 0, delete: bool = False) -> str:
    """A put (a delete with `delete`); an empty key, value or context is left
    unset (a null pointer)."""
    fields = [f"key = {data(key)}"] if key else []
    if value:
        fields.append(f"value = {data(value)}")
    if delete:
        fields.append("delete = true")
    if context:
        fields.append(f"context = {data(context)}")
    if w:
        fields.append(f"w = {w}")
    return f"(id = {req_id}, put = ({', '.join(fields)}))"


def split_messages(stream: bytes) -> list[bytes]:
    """The messages of a stream in the standard serialization: each is a
    segment table (u32 segment count - 1, a u32 size in words per segment,
    padded to a word) and its segments."""
    out, at = [], 0
    while at < len(stream):
        (count_minus_1,) = _struct.unpack_from("<I", stream, at)
        sizes = _struct.unpack_from(f"<{count_minus_1 + 1}I", stream, at + 4)
        table = 4 + 4 * len(sizes)
        end = at + table + (-table % 8) + 8 * sum(sizes)
        if end > len(stream):
            raise ValueError(f"message at byte {at} runs past the end of the stream")
        out.append(stream[at:end])
        at = end
    return out


def encode_frames(literals: Iterable[str]) -> list[bytes]:
    """Each literal (a Frame in the schema language, e.g. get_request(...))
    as it goes on the wire: the 4-byte little-endian length, then the
    message. One capnp run for all of them."""
    literals = list(literals)
    if not literals:
        return []
    bodies = split_messages(_capnp_convert("text:binary", "\n".join(literals).encode()))
    if len(bodies) != len(literals):
        raise AssertionError(f"capnp encoded {len(bodies)} messages for {len(literals)} frames")
    return [_struct.pack("<I", len(body)) + body for body in bodies]


def encode_frame(literal: str) -> bytes:
    return encode_frames([literal])[0]


def status_frame(req_id: int) -> bytes:
    return encode_frame(status_request(req_id))


def get_frame(req_id: int, key: bytes, r: int = 0) -> bytes:
    return encode_frame(get_request(req_id, key, r=r))


def put_frame(req_id: int, key: bytes, value: bytes, context: bytes = b"",
              w: int = 0) -> bytes:
    return encode_frame(put_request(req_id, key, value, context, w))


def decode_bodies(bodies: Iterable[bytes]) -> list[dict]:
    """Frame bodies (without the length prefix) as capnp's JSON form of
    `Frame`: the schema's field names, the union member as its own key
    ({"id": 7, "getReply": {...}}), enums by name ("invalidArgument"), Data
    as lists of byte values, other 64-bit integers as strings. "id" is made
    an int. One capnp run for all of them."""
    bodies = list(bodies)
    if not bodies:
        return []
    text = _capnp_convert("binary:json", b"".join(bodies)).decode("utf-8")
    frames = [json.loads(line) for line in text.splitlines() if line.strip()]
    if len(frames) != len(bodies):
        raise AssertionError(f"capnp decoded {len(frames)} messages from {len(bodies)} frames")
    for frame in frames:
        frame["id"] = int(frame.get("id", 0))
    return frames


def decode_body(body: bytes) -> dict:
    return decode_bodies([body])[0]


def kind(frame: dict) -> str:
    """The frame's union member: "statusReply", "error", "getReply", ..."""
    return next(k for k in frame if k != "id")


def siblings(frame: dict) -> list[dict]:
    """A getReply's siblings as [{"value": bytes, "tombstone": bool}]."""
    object_ = frame["getReply"].get("object", {})
    return [{"value": bytes(s.get("value", [])), "tombstone": s.get("tombstone", False)}
            for s in object_.get("siblings", [])]


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_body(sock: socket.socket, timeout: float = 5.0) -> bytes | None:
    """The body (the message, without the length prefix) of the next frame
    from `sock`; None when the peer closed the connection first. A timeout
    raises AssertionError."""
    sock.settimeout(timeout)
    try:
        header = _recv_exact(sock, 4)
        if header is None:
            return None
        (length,) = _struct.unpack("<I", header)
        body = _recv_exact(sock, length)
    except socket.timeout as e:
        raise AssertionError(f"no frame from the node within {timeout} s") from e
    if body is None:
        raise AssertionError(f"connection closed inside a frame of {length} bytes")
    return body


def read_frame(sock: socket.socket, timeout: float = 5.0) -> dict | None:
    """The next frame from `sock`, decoded (decode_bodies); None when the
    peer closed the connection first."""
    body = read_body(sock, timeout)
    return None if body is None else decode_body(body)


def read_frames(sock: socket.socket, count: int, timeout: float = 5.0) -> list[dict]:
    """The next `count` frames from `sock`, decoded in one capnp run.
    AssertionError when the peer closes first."""
    bodies = []
    for _ in range(count):
        body = read_body(sock, timeout)
        if body is None:
            raise AssertionError(f"connection closed after {len(bodies)} of {count} frames")
        bodies.append(body)
    return decode_bodies(bodies)


def wait_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Reads until the peer closes; returns what came before the close.
    AssertionError when the connection is still open after `timeout` s."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"connection still open {timeout} s after bad input "
                f"({len(data)} bytes received)")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk
