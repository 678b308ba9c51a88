#!/usr/bin/env bash
# Installs everything shoal needs to build and test, from Debian 12 packages.
# Idempotent: when every package is already installed it does nothing and
# touches no network.
set -euo pipefail

# Every program a test, a bench script or CI calls comes from one of these
# or from a package every Debian system has (Essential, or Priority
# required): the setup/programs test (scripts/check-programs) checks it.
PACKAGES=(
  g++ make cmake pkg-config python3
  libboost1.81-dev capnproto libcapnp-dev liblmdb-dev libxxhash-dev
  doctest-dev prometheus-cpp-dev libcli11-dev libtomlplusplus-dev
  libspdlog-dev nlohmann-json3-dev
  redis-server  # test_bench's and bench/compare.sh's Redis
  redis-tools   # redis-cli in bench/compare.sh
  prometheus    # promtool for the tests; `shoal ring up --prometheus`
  procps        # pkill, pgrep in the bench scripts
  git           # the bench scripts record the commit they measured
  iproute2      # ip netns, veth and bridge in test_netns
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root (or install them with apt-get) and try again" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
