# bench/lib.sh: helpers shared by the bench scripts (sourced, not run).
# The sourcing script defines die() first.

# port_free PORT: exit 0 when 127.0.0.1:PORT can be bound now.
port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# free_ring_base NODES FIRST: the first base port from FIRST on (in steps of
# 300) whose ring ports base+i and metrics ports base+100+i are all free.
free_ring_base() {
  local nodes=$1 first=$2 base i ok
  for ((base = first; base < 60000; base += 300)); do
    ok=1
    for ((i = 1; i <= nodes; i++)); do
      port_free $((base + i)) && port_free $((base + 100 + i)) || { ok=0; break; }
    done
    if [[ $ok == 1 ]]; then echo "$base"; return 0; fi
  done
  die "no free port range for a ring"
}

# ring_bench_work NAME: a work directory $WORK (with $RING, the ring's
# directory, inside) for a bench that runs one ring and background jobs, and
# the traps that clean up on any exit: the jobs in BG_PIDS (subshells: their
# children first, then them), the ring when RING_STARTED=1, and $WORK unless
# KEEP=1 or the run failed. Uses SHOAL, KEEP and log() from the caller.
ring_bench_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-$1.XXXXXX")
  RING=$WORK/ring
  RING_STARTED=0
  BG_PIDS=()
  trap ring_bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

ring_bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${BG_PIDS[@]}"; do
    pkill -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $RING_STARTED == 1 ]]; then
    "$SHOAL" ring down --dir "$RING" >/dev/null 2>&1 || true
  fi
  if [[ $KEEP == 1 || $rc != 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# Prefixes each line of stdin with the wall-clock time (seconds since the
# epoch, µs resolution), to line up bench progress lines with other events.
stamp() {
  local line
  while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}
