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

Set SHOAL_KEEP_DIR=1 to keep the ring directories (logs, data) of the run.

Python 3.11 standard library only.
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


# ---- raw frames (doc/wire.md), for bad-input tests ----
#
# Frame = u32 little-endian length | one flat single-segment Cap'n Proto
# message whose root is `Frame {id :UInt64; union {...}}` (16 data bytes: id,
# then the union tag at byte 8; one pointer: the member's struct). Just
# enough of the encoding to build a few requests and read replies/errors.

TAG_ERROR, TAG_GET, TAG_GET_REPLY, TAG_PUT, TAG_PUT_REPLY = 0, 1, 2, 3, 4
TAG_STATUS, TAG_STATUS_REPLY = 11, 12
ERROR_CODES = ["ok", "notFound", "invalidArgument", "tooLarge", "unavailable",
               "timeout", "overloaded", "corruption", "storageFull", "internal"]


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


def _struct_ptr(offset: int, data_words: int, ptr_count: int) -> bytes:
    return _struct.pack("<iHH", (offset << 2) | 0, data_words, ptr_count)


def _byte_list_ptr(offset: int, count: int) -> bytes:
    return _struct.pack("<iI", (offset << 2) | 1, 2 | (count << 3))


def encode_frame(req_id: int, tag: int, data: bytes = b"",
                 ptrs: Iterable[bytes | None] = ()) -> bytes:
    """One frame whose union member `tag` is a struct with `data` (padded to
    whole words) and Data pointer fields `ptrs` (None = null pointer)."""
    ptrs = list(ptrs)
    data = data + b"\0" * (-len(data) % 8)
    dw, pc = len(data) // 8, len(ptrs)
    words = bytearray()
    words += _struct_ptr(0, 2, 1)                       # word 0: root -> word 1
    words += _struct.pack("<QH6x", req_id, tag)         # words 1-2: Frame data
    child = 4                                           # word 3: Frame ptr[0]
    if dw == 0 and pc == 0:
        words += _struct_ptr(-1, 0, 0)                  # empty struct, not null
    else:
        words += _struct_ptr(child - 4, dw, pc)
    words += data
    ptr_base = child + dw
    words += b"\0" * (8 * pc)
    for i, blob in enumerate(ptrs):
        if blob is None or len(blob) == 0:
            continue
        at = len(words) // 8
        ptr_word = ptr_base + i
        words[8 * ptr_word:8 * ptr_word + 8] = _byte_list_ptr(at - ptr_word - 1, len(blob))
        words += blob + b"\0" * (-len(blob) % 8)
    body = _struct.pack("<II", 0, len(words) // 8) + bytes(words)
    return _struct.pack("<I", len(body)) + body


def status_frame(req_id: int) -> bytes:
    return encode_frame(req_id, TAG_STATUS)


def get_frame(req_id: int, key: bytes, r: int = 0) -> bytes:
    return encode_frame(req_id, TAG_GET, _struct.pack("<BBxxI", r, 0, 0), [key])


def put_frame(req_id: int, key: bytes, value: bytes, context: bytes = b"",
              w: int = 0) -> bytes:
    return encode_frame(req_id, TAG_PUT, _struct.pack("<BBxxI", 0, w, 0),
                        [key, value, context])


def _follow(words: bytes, ptr_at: int) -> tuple[int, int, int, int]:
    """(kind, target word, a, b) for the pointer at word `ptr_at`: structs
    give (0, target, data words, ptr count), lists (1, target, elem size, count)."""
    lo, hi = _struct.unpack_from("<iI", words, 8 * ptr_at)
    kind = lo & 3
    if kind == 0:
        return 0, ptr_at + 1 + (lo >> 2), hi & 0xFFFF, hi >> 16
    if kind == 1:
        return 1, ptr_at + 1 + (lo >> 2), hi & 7, hi >> 3
    raise ValueError(f"pointer kind {kind} at word {ptr_at} not supported")


def decode_frame_body(body: bytes) -> dict:
    """{"id", "tag"} plus, for an error frame, "error": {"code", "message",
    "has_quorum", "acked", "required", "contacted", "maybe_applied"}; for a
    putReply, "context" (bytes). Single-segment messages only."""
    count_minus_1, size = _struct.unpack_from("<II", body, 0)
    if count_minus_1 != 0:
        raise ValueError("multi-segment reply not supported by the test decoder")
    words = body[8:8 + 8 * size]
    kind, at, dw, pc = _follow(words, 0)
    req_id, tag = _struct.unpack_from("<QH", words, 8 * at)
    out: dict[str, Any] = {"id": req_id, "tag": tag}
    kind, child, cdw, cpc = _follow(words, at + dw)
    if tag == TAG_ERROR:
        code, flags = _struct.unpack_from("<HB", words, 8 * child)
        acked, required, contacted = _struct.unpack_from("<III", words, 8 * child + 4)
        message = ""
        if cpc >= 1 and _struct.unpack_from("<Q", words, 8 * (child + cdw))[0] != 0:
            _, text_at, _, n = _follow(words, child + cdw)
            message = words[8 * text_at:8 * text_at + n].rstrip(b"\0").decode("utf-8", "replace")
        out["error"] = {
            "code": ERROR_CODES[code] if code < len(ERROR_CODES) else code,
            "message": message, "has_quorum": bool(flags & 1),
            "acked": acked, "required": required, "contacted": contacted,
            "maybe_applied": bool(flags & 2)}
    elif tag == TAG_PUT_REPLY and cpc >= 1:
        if _struct.unpack_from("<Q", words, 8 * (child + cdw))[0] == 0:
            out["context"] = b""
        else:
            _, ctx_at, _, n = _follow(words, child + cdw)
            out["context"] = bytes(words[8 * ctx_at:8 * ctx_at + n])
    return out


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket, timeout: float = 5.0) -> dict | None:
    """The next frame from `sock`, decoded; None when the peer closed the
    connection first. A timeout raises AssertionError."""
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
    return decode_frame_body(body)


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
