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
