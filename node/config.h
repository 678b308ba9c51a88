// shoald's configuration: a TOML file, overridden by command-line flags.
//
// File format (doc/impl.md, "Configuration"; every key optional except
// name and cluster.members):
//
//   name = "n1"                        # this node's member name
//   dc = "dc1"                         # its datacenter, rack; as in members
//   rack = "r1"
//   listen = "127.0.0.1:7101"          # default: this member's address
//   data_dir = "/var/lib/shoal/n1"     # default: ./data-<name>
//   metrics_listen = "127.0.0.1:9101"  # Prometheus /metrics; "" = off
//   log_level = "info"                 # trace|debug|info|warn|error
//   [cluster]
//   n = 3                              # or per datacenter: { dc1 = 3, dc2 = 2
//   } w = 2 r = 2 partitions = 64 conflict = "siblings"              # or "lww"
//   (unsafe; doc/faults.md) members = [ { name = "n1", address =
//   "127.0.0.1:7101" }, ... ]
//             # with datacenters each also has dc = "dc1", rack = "r1"
//   # or, instead of members, n and partitions (doc/membership.md):
//   seeds = [ "127.0.0.1:7101" ]       # learn the cluster state from these
//   [storage]
//   map_size = 1073741824              # bytes
//   sync = "periodic"                  # periodic|always|none
//   sync_interval_ms = 100
//   [failure]
//   heartbeat_ms = 200                 # ping interval per peer
//   down_after_ms = 1000               # silence that marks a peer down
//   [handoff]
//   enabled = true                     # deliver hints to returning nodes
//   max_rate = 20000                   # hints delivered per second, at most
//   batch = 256                        # hints read and sent per round
//   max_hints_per_target = 1000000     # beyond it new hints are dropped
//   [antientropy]
//   enabled = true                     # automatic Merkle-tree exchanges
//   interval_ms = 250                  # between partition exchanges
//   repair_rate = 5000                 # keys repaired per second, at most
//   transfer_rate = 5000               # keys a partition transfer copies
//                                      # per second (a bucket of its own)
//   [limits]
//   max_value_bytes = 4194304
//   max_object_bytes = 16777216
//   request_timeout_ms = 2000
//   max_connections = 10000            # client connections; more refused
//   max_in_flight = 128                # requests per connection, then TCP
//                                      # backpressure (the socket is not read)
//   max_inflight_bytes = 268435456     # node-wide bytes of client frames
//   max_requests = 1024                # client requests coordinated at
//                                      # once; more fail with `overloaded`
//   frame_timeout = "10s"              # a started frame must complete
//   idle_timeout = "5m"                # idle client connections closed;
//                                      # "0s" = never
//   warn_siblings = 25                 # counted and logged above this
//   max_siblings = 100                 # a write that would exceed it fails
//   [storage] also takes
//   max_queued_writes = 10000          # writes waiting for the disk
//
// Durations carry their unit ("500ms", "10s", "5m"); the older *_ms keys
// are plain milliseconds.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "node/dump.h"
#include "quorum/conflict.h"
#include "ring/ring.h"
#include "storage/store.h"

namespace shoal::node {

struct Member {
  std::string name;
  std::string address;  // host:port
  std::string dc{};     // datacenter (required when cluster.n is a table)
  std::string rack{};   // "" = none
};

struct NodeConfig {
  std::string name;
  std::string listen;
  std::string data_dir;
  std::string metrics_listen;
  std::string log_level = "info";
  // This node's datacenter and rack: as its cluster.members entry says (a
  // different value is an error). A node started from seeds gets its site
  // from the join (`shoal cluster join --dc --rack`); these keys are then
  // not used.
  std::string dc;
  std::string rack;

  uint32_t n = 3, w = 2, r = 2;
  // cluster.n as a table, { dc1 = 3, dc2 = 2 }: replicas per datacenter,
  // sorted by name; n is then their sum. Empty: no datacenters.
  std::vector<ring::DcReplicas> dcs;
  uint32_t partitions = 64;
  // How concurrent writes are resolved: kSiblings (kept, the client
  // merges; "siblings") or kLastWriteWins ("lww": last write by written_at
  // wins, the others are discarded: loses writes; for comparison only,
  // doc/faults.md).
  quorum::ConflictPolicy conflict = quorum::ConflictPolicy::kSiblings;
  // The members of a new ring (its first cluster state), or empty when
  // `seeds` is set: a node started from seeds asks them for the cluster
  // state (members, n, partitions) and must be a member of it.
  std::vector<Member> members;
  std::vector<std::string> seeds;  // host:port of running members

  storage::StoreOptions storage;  // .dir is filled from data_dir

  uint32_t heartbeat_ms = 200;
  uint32_t down_after_ms = 1000;

  bool handoff_enabled = true;
  uint32_t handoff_max_rate = 20000;  // hints/s
  uint32_t handoff_batch = 256;
  uint64_t max_hints_per_target = 1'000'000;

  // Tombstone reaping (reaper/reaper.h; doc/impl.md, "Reaping tombstones").
  bool reap_enabled = true;
  std::chrono::milliseconds tombstone_grace{10'000};
  std::chrono::milliseconds reap_interval{1'000};
  uint32_t reap_batch = 1000;
  bool TEST_reap_unsafe = false;  // a planted bug for the delete checker

  bool aae_enabled = true;
  uint32_t aae_interval_ms = 250;
  uint32_t aae_repair_rate = 5000;    // keys/s
  uint32_t aae_transfer_rate = 5000;  // keys/s, transfers' own bucket

  uint64_t max_value_bytes = 4ull << 20;
  uint64_t max_object_bytes = 16ull << 20;
  uint32_t request_timeout_ms = 2000;

  // Defences (doc/impl.md, "Limits"); 0 disables a limit unless noted.
  uint32_t max_connections = 10000;  // >= 1
  uint32_t max_in_flight = 128;
  uint64_t max_inflight_bytes = 256ull << 20;  // >= 2 frame caps, or 0
  uint32_t max_requests = 1024;
  std::chrono::milliseconds frame_timeout{10'000};
  std::chrono::milliseconds idle_timeout{300'000};
  uint32_t warn_siblings = 25;
  uint32_t max_siblings = 100;
};

// Parses argv (--config FILE plus overriding flags; --print-config prints
// the effective config as TOML and sets `print_only`), or the `dump`
// subcommand (`shoald dump --data-dir DIR [--db objects|hints] [--json]`,
// which sets `dump` and takes none of the node's flags). Errors are usage
// errors naming the flag, key or value (kInvalidArgument); `--help` (also
// `shoald dump --help`) sets `help_text` and returns ok.
struct ParsedArgs {
  NodeConfig config;
  bool print_only = false;
  std::string help_text;         // non-empty when --help was given
  std::optional<DumpArgs> dump;  // set for `shoald dump`
};
Result<ParsedArgs> ParseArgs(int argc, char** argv);

// Checks cross-field rules: name is a member, 1 <= w,r <= n, partitions a
// power of two >= member count, unique member names and addresses, limits
// consistent (max_value_bytes <= max_object_bytes), addresses parse.
Status Validate(const NodeConfig& config);

// The effective configuration as TOML (what --print-config prints).
std::string ToToml(const NodeConfig& config);

}  // namespace shoal::node
