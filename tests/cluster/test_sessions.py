#!/usr/bin/env python3
"""Session guarantees (doc/impl.md, "Sessions"): read-your-writes and
monotonic reads through session tokens.

- A token handed from one client process to another (`--session FILE`,
  copied) gives the second read-your-writes for the first's writes: while
  the node holding the write is cut off, the second process's read is
  refused naming the guarantee (a read without the token returns the older
  value); after the heal it returns the write, at r = 1.
- `shoal check --workload session` (r = 1, w = 1 clients reading through
  random nodes) under partitions and delays: with tokens, 0 violations over
  several seeds; the control run without tokens finds violations.
"""

import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

CHECK_DURATION = "20s"
CHECK_TIMEOUT_S = 240
# (nemesis, seed) runs with tokens; each must find 0 violations.
TOKEN_RUNS = [("partition-random", 1), ("partition-random", 2), ("delay", 1),
              ("delay", 2)]
# The control tries these seeds until one run finds a violation.
CONTROL_SEEDS = [1, 2, 3]


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class TokenHandoffTest(harness.SharedRingTestCase):
    NODES = 3
    N, W, R = 3, 2, 2
    BASE_PORT = 31620  # nodes 31621..3, metrics 31721..3

    def setUp(self) -> None:
        self.tmp = os.path.join(self.ring.tmp, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.tmp, exist_ok=True)
        self.addCleanup(self.heal)

    def heal(self) -> None:
        self.ring.shoal("fault", "heal", expect_ok=False)
        self.ring.wait_ready(timeout=30)  # every node sees the others up

    @staticmethod
    def read_bytes(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def test_a_copied_token_gives_read_your_writes_to_another_process(self):
        first = os.path.join(self.tmp, "first.session")
        second = os.path.join(self.tmp, "second.session")
        self.ring.put("k", "old", "n1", "--w", "3")

        # n1 alone takes the write (w = 1): n2 and n3 never see it.
        self.ring.shoal("fault", "partition", "n1 | n2,n3")
        _, got = self.ring.shoal("get", "k", "--r", "1", "--session", first,
                                 node="n1")
        _, put = self.ring.shoal("put", "k", "new", "--w", "1", "--context",
                                 got["context"], "--session", first, node="n1")
        self.assertEqual(put["session"], {"file": first, "keys": 1}, put)
        self.assertTrue(os.path.getsize(first) > 0)
        shutil.copy(first, second)  # handed to another client

        # Without the token, r = 1 through n2 answers the older value.
        got = self.ring.get("k", "n2", "--r", "1")
        self.assertEqual(got["values"], ["old"], got)
        # With it, the read is refused naming the guarantee, not answered old.
        before = self.read_bytes(second)
        code, out, err = self.ring.shoal_text("get", "k", "--r", "1", "--session",
                                              second, node="n2")
        self.assertNotEqual(code, 0, out)
        self.assertIn("read-your-writes", out + err)
        self.assertIn("unavailable", out + err)
        self.assertEqual(self.read_bytes(second), before,
                         "a refused request must leave the session file as it was")

        # After the heal the second process reads the first's write at r = 1
        # through n2 (which asks the others until one reflects the token).
        self.ring.shoal("fault", "heal")

        def reads_new():
            code, out = self.ring.shoal("get", "k", "--r", "1", "--session", second,
                                        node="n2", expect_ok=False)
            return code == 0 and out["values"] == ["new"]

        wait_until(reads_new, 20, "the second process to read the first's write")
        # Read repair brought n2's own copy up to date on the way.
        wait_until(lambda: [s["value"] for s in
                            self.ring.local_get("k", "n2")["siblings"]
                            if not s.get("tombstone")] == ["new"],
                   10, "read repair of n2")

    def test_a_session_reads_its_delete_as_not_found(self):
        path = os.path.join(self.tmp, "del.session")
        self.ring.put("gone", "v", "n1", "--w", "3")
        _, got = self.ring.shoal("get", "gone", "--session", path, node="n1")
        self.ring.shoal("del", "gone", "--context", got["context"], "--w", "3",
                        "--session", path, node="n2")
        _, after = self.ring.shoal("get", "gone", "--r", "1", "--session", path,
                                   node="n3")
        self.assertFalse(after["found"], after)

    def test_a_file_that_is_no_token_is_refused_by_name(self):
        path = os.path.join(self.tmp, "bad.session")
        with open(path, "w") as f:
            f.write("this is not a token\n")
        code, out, err = self.ring.shoal_text("get", "k", "--session", path,
                                              node="n1")
        self.assertNotEqual(code, 0)
        self.assertIn("--session", out + err)
        self.assertIn("session token", out + err)
        with open(path) as f:
            self.assertEqual(f.read(), "this is not a token\n")


class SessionCheckTest(harness.SharedRingTestCase):
    NODES = 5
    N, W, R = 3, 2, 2
    BASE_PORT = 31600  # nodes 31601..5, metrics 31701..5

    def check(self, nemesis: str, seed: int, tokens: str) -> tuple[int, dict, float]:
        started = time.monotonic()
        code, report = self.ring.shoal(
            "check", "--workload", "session", "--nemesis", nemesis, "--duration",
            CHECK_DURATION, "--seed", str(seed), "--tokens", tokens,
            expect_ok=False, timeout=CHECK_TIMEOUT_S)
        self.assertIsInstance(report, dict, report)
        return code, report, time.monotonic() - started

    def refusals_name_the_guarantee(self, report: dict) -> tuple[int, int]:
        """(failed reads, of them refused by the session) from the history;
        a failed read names the guarantee unless no replica could be asked."""
        failed = refused = 0
        with open(report["history"]) as f:
            for line in f:
                e = json.loads(line)
                if e.get("f") == "read" and e["type"] == "fail":
                    failed += 1
                    err = e.get("error", "")
                    named = "read-your-writes" in err or "monotonic reads" in err
                    refused += named
                    if "get refused" in err:
                        self.assertTrue(named, err)
        return failed, refused

    def test_tokens_give_read_your_writes_and_monotonic_reads(self):
        refused_total = 0
        for nemesis, seed in TOKEN_RUNS:
            code, report, wall = self.check(nemesis, seed, "on")
            s = report["session"]
            failed, refused = self.refusals_name_the_guarantee(report)
            refused_total += refused
            log(f"tokens on, {nemesis} seed {seed}: exit {code}, {s['reads']} reads, "
                f"{s['read_your_writes_violations']} + "
                f"{s['monotonic_read_violations']} violations, {s['refused']} "
                f"refused ({failed} reads failed), ops {report['ops']}, "
                f"{wall:.1f} s")
            text = json.dumps(report, indent=1)[:3000]
            self.assertEqual(s["refused"], refused, text)
            self.assertGreater(s["reads"], 200, text)
            self.assertEqual(s["read_your_writes_violations"], 0, text)
            self.assertEqual(s["monotonic_read_violations"], 0, text)
            self.assertEqual(report["lost"], 0, text)
            self.assertTrue(report["converged"], text)
            self.assertEqual(code, 0, text)
            self.ring.wait_ready(timeout=30)
        log(f"reads refused naming the guarantee, all runs: {refused_total}")

    def test_without_tokens_the_control_finds_violations(self):
        runs = []
        for seed in CONTROL_SEEDS:
            code, report, wall = self.check("delay", seed, "off")
            s = report["session"]
            found = s["read_your_writes_violations"] + s["monotonic_read_violations"]
            runs.append((seed, code, found))
            log(f"tokens off (control), delay seed {seed}: exit {code}, {s['reads']} "
                f"reads, {s['read_your_writes_violations']} read-your-writes and "
                f"{s['monotonic_read_violations']} monotonic-read violations, "
                f"{wall:.1f} s")
            self.assertEqual(s["refused"], 0, "no token, nothing to refuse")
            self.ring.wait_ready(timeout=30)
            if found > 0:
                self.assertNotEqual(code, 0, "violations make the run invalid")
                return
        self.fail(f"the control never found a violation (seed, exit, found): {runs}")


if __name__ == "__main__":
    harness.main()
