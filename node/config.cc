#include "node/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <optional>
#include <set>
#include <sstream>

#include "base/duration.h"
#include "ring/ring.h"
#include "wire/codec.h"
#include "wire/connection.h"

namespace shoal::node {
namespace {

Status Bad(std::string msg) {
  return Status(Code::kInvalidArgument, std::move(msg));
}

// Rejects keys this version does not know: a typo must not silently fall
// back to a default.
Status CheckKeys(const toml::table& t, const std::set<std::string>& allowed,
                 const std::string& where) {
  for (const auto& [k, v] : t) {
    if (!allowed.count(std::string(k.str()))) {
      return Bad("unknown config key '" + where + std::string(k.str()) + "'");
    }
  }
  return Status::Ok();
}

template <typename T>
Status Read(const toml::table& t, const char* key, const std::string& where,
            T& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return Status::Ok();
  if constexpr (std::is_same_v<T, std::string>) {
    auto v = n->value<std::string>();
    if (!v) return Bad("config key '" + where + key + "' must be a string");
    out = *v;
  } else {
    auto v = n->value<int64_t>();
    if (!v || *v < 0 ||
        static_cast<uint64_t>(*v) > std::numeric_limits<T>::max()) {
      return Bad("config key '" + where + key +
                 "' must be a non-negative integer in range");
    }
    out = static_cast<T>(*v);
  }
  return Status::Ok();
}

// A duration with its unit ("10s"), as a TOML string.
Status ReadDuration(const toml::table& t, const char* key,
                    const std::string& where, std::chrono::milliseconds& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return Status::Ok();
  auto text = n->value<std::string>();
  if (!text) {
    return Bad("config key '" + where + key +
               "' must be a duration with its unit, e.g. \"10s\"");
  }
  auto d = ParseDuration(*text);
  if (!d) {
    return Bad("config key '" + where + key + "': " + d.status().message());
  }
  out = *d;
  return Status::Ok();
}

// The config file into `c`; storage.sync and cluster.conflict, which flags
// may override, are returned as written (parsed by ParseArgs).
Status LoadFile(const std::string& path, NodeConfig& c, std::string& sync,
                std::optional<std::string>& conflict) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << "cannot read config " << path << ": " << e.description() << " at "
       << e.source().begin;
    return Bad(os.str());
  }
  Status st = CheckKeys(root,
                        {"name", "dc", "rack", "listen", "data_dir",
                         "metrics_listen", "log_level", "cluster", "storage",
                         "failure", "handoff", "antientropy", "limits"},
                        "");
  if (!st.ok()) return st;
#define SHOAL_READ(tbl, key, where, field)    \
  do {                                        \
    Status s_ = Read(tbl, key, where, field); \
    if (!s_.ok()) return s_;                  \
  } while (0)
  SHOAL_READ(root, "name", "", c.name);
  SHOAL_READ(root, "dc", "", c.dc);
  SHOAL_READ(root, "rack", "", c.rack);
  SHOAL_READ(root, "listen", "", c.listen);
  SHOAL_READ(root, "data_dir", "", c.data_dir);
  SHOAL_READ(root, "metrics_listen", "", c.metrics_listen);
  SHOAL_READ(root, "log_level", "", c.log_level);
  if (const toml::table* cl = root["cluster"].as_table()) {
    st = CheckKeys(
        *cl, {"n", "w", "r", "partitions", "members", "conflict", "seeds"},
        "cluster.");
    if (!st.ok()) return st;
    if (const toml::node* s = cl->get("seeds")) {
      const toml::array* arr = s->as_array();
      if (arr == nullptr) return Bad("cluster.seeds must be an array");
      for (const toml::node& el : *arr) {
        auto v = el.value<std::string>();
        if (!v) return Bad("cluster.seeds entries must be \"host:port\"");
        c.seeds.push_back(*v);
      }
      for (const char* key : {"members", "n", "partitions"}) {
        if (cl->contains(key)) {
          return Bad(std::string("cluster.seeds and cluster.") + key +
                     " exclude each other: a node started from seeds "
                     "learns the members, n and partitions from the "
                     "cluster");
        }
      }
    }
    if (cl->contains("conflict")) {
      conflict.emplace();
      SHOAL_READ(*cl, "conflict", "cluster.", *conflict);
    }
    if (const toml::table* per_dc = cl->get_as<toml::table>("n")) {
      // Replicas per datacenter; toml++ keeps a table's keys sorted.
      c.dcs.clear();
      uint32_t sum = 0;
      for (const auto& [dc, count] : *per_dc) {
        auto v = count.value<int64_t>();
        if (!v || *v < 1 || *v > 1000) {
          return Bad("cluster.n." + std::string(dc.str()) +
                     " must be a replica count between 1 and 1000");
        }
        c.dcs.push_back({std::string(dc.str()), static_cast<uint32_t>(*v)});
        sum += static_cast<uint32_t>(*v);
      }
      if (c.dcs.empty()) {
        return Bad(
            "cluster.n is an empty table: name each datacenter's "
            "replica count, e.g. { dc1 = 3, dc2 = 2 }");
      }
      c.n = sum;
    } else {
      SHOAL_READ(*cl, "n", "cluster.", c.n);
    }
    SHOAL_READ(*cl, "w", "cluster.", c.w);
    SHOAL_READ(*cl, "r", "cluster.", c.r);
    SHOAL_READ(*cl, "partitions", "cluster.", c.partitions);
    if (const toml::node* m = cl->get("members")) {
      const toml::array* arr = m->as_array();
      if (arr == nullptr) return Bad("cluster.members must be an array");
      c.members.clear();
      for (const toml::node& el : *arr) {
        const toml::table* mt = el.as_table();
        if (mt == nullptr) {
          return Bad(
              "cluster.members entries must be { name, address [, dc, "
              "rack] }");
        }
        st = CheckKeys(*mt, {"name", "address", "dc", "rack"},
                       "cluster.members.");
        if (!st.ok()) return st;
        Member mem;
        SHOAL_READ(*mt, "name", "cluster.members.", mem.name);
        SHOAL_READ(*mt, "address", "cluster.members.", mem.address);
        SHOAL_READ(*mt, "dc", "cluster.members.", mem.dc);
        SHOAL_READ(*mt, "rack", "cluster.members.", mem.rack);
        c.members.push_back(std::move(mem));
      }
    }
  }
  if (const toml::table* s = root["storage"].as_table()) {
    st = CheckKeys(
        *s,
        {"map_size", "sync", "sync_interval_ms", "max_queued_writes", "reap",
         "tombstone_grace", "reap_interval", "reap_batch", "TEST_reap_unsafe"},
        "storage.");
    if (!st.ok()) return st;
    for (auto [key, out] :
         {std::pair{"reap", &c.reap_enabled},
          std::pair{"TEST_reap_unsafe", &c.TEST_reap_unsafe}}) {
      if (const toml::node* e = s->get(key)) {
        if (!e->is_boolean()) {
          return Bad(std::string("config key 'storage.") + key +
                     "' must be true or false");
        }
        *out = *e->value<bool>();
      }
    }
    st = ReadDuration(*s, "tombstone_grace", "storage.", c.tombstone_grace);
    if (!st.ok()) return st;
    st = ReadDuration(*s, "reap_interval", "storage.", c.reap_interval);
    if (!st.ok()) return st;
    SHOAL_READ(*s, "reap_batch", "storage.", c.reap_batch);
    SHOAL_READ(*s, "max_queued_writes", "storage.",
               c.storage.max_queued_writes);
    SHOAL_READ(*s, "map_size", "storage.", c.storage.map_size_bytes);
    SHOAL_READ(*s, "sync", "storage.", sync);
    uint32_t interval = static_cast<uint32_t>(c.storage.sync_interval.count());
    SHOAL_READ(*s, "sync_interval_ms", "storage.", interval);
    c.storage.sync_interval = std::chrono::milliseconds(interval);
  }
  if (const toml::table* f = root["failure"].as_table()) {
    st = CheckKeys(*f, {"heartbeat_ms", "down_after_ms"}, "failure.");
    if (!st.ok()) return st;
    SHOAL_READ(*f, "heartbeat_ms", "failure.", c.heartbeat_ms);
    SHOAL_READ(*f, "down_after_ms", "failure.", c.down_after_ms);
  }
  if (const toml::table* h = root["handoff"].as_table()) {
    st = CheckKeys(*h, {"enabled", "max_rate", "batch", "max_hints_per_target"},
                   "handoff.");
    if (!st.ok()) return st;
    if (const toml::node* e = h->get("enabled")) {
      // value<bool>() would also take an integer; only true/false will do.
      if (!e->is_boolean()) {
        return Bad("config key 'handoff.enabled' must be true or false");
      }
      c.handoff_enabled = *e->value<bool>();
    }
    SHOAL_READ(*h, "max_rate", "handoff.", c.handoff_max_rate);
    SHOAL_READ(*h, "batch", "handoff.", c.handoff_batch);
    SHOAL_READ(*h, "max_hints_per_target", "handoff.", c.max_hints_per_target);
  }
  if (const toml::table* a = root["antientropy"].as_table()) {
    st = CheckKeys(*a,
                   {"enabled", "interval_ms", "repair_rate", "transfer_rate"},
                   "antientropy.");
    if (!st.ok()) return st;
    if (const toml::node* e = a->get("enabled")) {
      if (!e->is_boolean()) {
        return Bad("config key 'antientropy.enabled' must be true or false");
      }
      c.aae_enabled = *e->value<bool>();
    }
    SHOAL_READ(*a, "interval_ms", "antientropy.", c.aae_interval_ms);
    SHOAL_READ(*a, "repair_rate", "antientropy.", c.aae_repair_rate);
    SHOAL_READ(*a, "transfer_rate", "antientropy.", c.aae_transfer_rate);
  }
  if (const toml::table* l = root["limits"].as_table()) {
    st = CheckKeys(*l,
                   {"max_value_bytes", "max_object_bytes", "request_timeout_ms",
                    "max_connections", "max_in_flight", "max_inflight_bytes",
                    "max_requests", "frame_timeout", "idle_timeout",
                    "warn_siblings", "max_siblings"},
                   "limits.");
    if (!st.ok()) return st;
    SHOAL_READ(*l, "max_value_bytes", "limits.", c.max_value_bytes);
    SHOAL_READ(*l, "max_object_bytes", "limits.", c.max_object_bytes);
    SHOAL_READ(*l, "request_timeout_ms", "limits.", c.request_timeout_ms);
    SHOAL_READ(*l, "max_connections", "limits.", c.max_connections);
    SHOAL_READ(*l, "max_in_flight", "limits.", c.max_in_flight);
    SHOAL_READ(*l, "max_inflight_bytes", "limits.", c.max_inflight_bytes);
    SHOAL_READ(*l, "max_requests", "limits.", c.max_requests);
    SHOAL_READ(*l, "warn_siblings", "limits.", c.warn_siblings);
    SHOAL_READ(*l, "max_siblings", "limits.", c.max_siblings);
    st = ReadDuration(*l, "frame_timeout", "limits.", c.frame_timeout);
    if (!st.ok()) return st;
    st = ReadDuration(*l, "idle_timeout", "limits.", c.idle_timeout);
    if (!st.ok()) return st;
  }
#undef SHOAL_READ
  return Status::Ok();
}

}  // namespace

Result<ParsedArgs> ParseArgs(int argc, char** argv) {
  CLI::App app{
      "shoald: a shoal node (Dynamo-style leaderless key-value store)"};
  std::string config_path, sync, conflict;
  NodeConfig flags;
  ParsedArgs out;
  app.add_option("--config", config_path, "TOML config file");
  auto* o_name =
      app.add_option("--name", flags.name, "this node's member name");
  auto* o_listen =
      app.add_option("--listen", flags.listen, "HOST:PORT to listen on");
  auto* o_data =
      app.add_option("--data-dir", flags.data_dir, "data directory (LMDB)");
  auto* o_metrics =
      app.add_option("--metrics-listen", flags.metrics_listen,
                     "HOST:PORT for Prometheus /metrics (\"\" = off)");
  auto* o_log = app.add_option("--log-level", flags.log_level,
                               "trace|debug|info|warn|error");
  auto* o_n = app.add_option("--n", flags.n, "replicas per key");
  auto* o_w = app.add_option("--w", flags.w, "default write quorum");
  auto* o_r = app.add_option("--r", flags.r, "default read quorum");
  auto* o_q = app.add_option("--partitions", flags.partitions,
                             "partition count Q (power of two)");
  auto* o_conflict = app.add_option(
      "--conflict", conflict,
      "siblings (default) | lww (last write wins: loses concurrent writes; "
      "for comparison only)");
  auto* o_map = app.add_option("--map-size", flags.storage.map_size_bytes,
                               "LMDB map size in bytes");
  auto* o_sync = app.add_option("--sync", sync, "periodic|always|none");
  uint32_t sync_ms = 0;
  auto* o_sync_ms = app.add_option("--sync-interval-ms", sync_ms,
                                   "fsync interval for sync=periodic");
  auto* o_maxv = app.add_option("--max-value-bytes", flags.max_value_bytes,
                                "largest value accepted");
  auto* o_maxo = app.add_option("--max-object-bytes", flags.max_object_bytes,
                                "largest object (all siblings) accepted");
  auto* o_to = app.add_option("--request-timeout-ms", flags.request_timeout_ms,
                              "default request deadline");
  auto* o_maxh =
      app.add_option("--max-hints-per-target", flags.max_hints_per_target,
                     "new hints beyond this many per target are dropped");
  bool handoff = true;
  auto* o_handoff = app.add_option(
      "--handoff", handoff, "deliver hints to returning nodes (true|false)");
  bool aae = true;
  auto* o_aae = app.add_option(
      "--aae", aae,
      "automatic anti-entropy exchanges (true|false; `shoal aae run` works "
      "either way)");
  app.add_flag("--print-config", out.print_only,
               "print the effective configuration and exit");
  app.footer(
      "`shoald dump --help`: the options of the dump of a data directory.");
  CLI::App* dump = app.add_subcommand(
      "dump",
      "print every record of a data directory's `objects` (or `hints`) "
      "database, one line each; read-only, works while its node runs");
  std::string dump_dir, dump_db = "objects";
  bool dump_json = false;
  dump->add_option("--data-dir", dump_dir, "the node's data directory")
      ->required();
  dump->add_option("--db", dump_db, "objects (default) | hints");
  dump->add_flag("--json", dump_json,
                 "one JSON document per record (JSON lines)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.help_text = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    return Bad(e.what());
  }
  if (dump->parsed()) {
    for (const CLI::Option* option : app.get_options()) {
      if (option->count() > 0) {
        return Bad(
            "`shoald dump` takes only --data-dir, --db and --json, not " +
            option->get_name());
      }
    }
    auto db = storage::ParseDumpDb(dump_db);
    if (!db) return Bad("--db: " + db.status().message());
    out.dump = DumpArgs{dump_dir, *db, dump_json};
    return out;
  }

  NodeConfig& c = out.config;
  std::string file_sync;
  std::optional<std::string> file_conflict;
  if (!config_path.empty()) {
    Status st = LoadFile(config_path, c, file_sync, file_conflict);
    if (!st.ok()) return st;
  }
  if (*o_name) c.name = flags.name;
  if (*o_listen) c.listen = flags.listen;
  if (*o_data) c.data_dir = flags.data_dir;
  if (*o_metrics) c.metrics_listen = flags.metrics_listen;
  if (*o_log) c.log_level = flags.log_level;
  if (!c.seeds.empty() && (*o_n || *o_q)) {
    return Bad(std::string(*o_n ? "--n" : "--partitions") +
               " does not apply to a node started from cluster.seeds: it "
               "learns n and partitions from the cluster");
  }
  if (*o_n) c.n = flags.n;
  if (*o_w) c.w = flags.w;
  if (*o_r) c.r = flags.r;
  if (*o_q) c.partitions = flags.partitions;
  if (*o_conflict) file_conflict = conflict;
  if (*o_map) c.storage.map_size_bytes = flags.storage.map_size_bytes;
  if (*o_sync_ms) c.storage.sync_interval = std::chrono::milliseconds(sync_ms);
  if (*o_maxv) c.max_value_bytes = flags.max_value_bytes;
  if (*o_maxo) c.max_object_bytes = flags.max_object_bytes;
  if (*o_to) c.request_timeout_ms = flags.request_timeout_ms;
  if (*o_maxh) c.max_hints_per_target = flags.max_hints_per_target;
  if (*o_handoff) c.handoff_enabled = handoff;
  if (*o_aae) c.aae_enabled = aae;
  if (*o_sync) file_sync = sync;
  if (!file_sync.empty()) {
    auto p = storage::ParseSyncPolicy(file_sync);
    if (!p) return p.status();
    c.storage.sync = *p;
  }
  if (file_conflict) {
    auto p = quorum::ParseConflictPolicy(*file_conflict);
    if (!p) {
      return Bad("cluster.conflict '" + *file_conflict +
                 "' is not one of siblings, lww");
    }
    c.conflict = *p;
  }
  // Defaults that depend on other fields.
  if (c.listen.empty()) {
    for (const Member& m : c.members) {
      if (m.name == c.name) c.listen = m.address;
    }
  }
  if (c.data_dir.empty() && !c.name.empty()) c.data_dir = "./data-" + c.name;
  c.storage.dir = c.data_dir;
  return out;
}

namespace {

Status CheckName(const std::string& name, const char* what) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                             "opqrstuvwxyz0123456789_.-") !=
          std::string::npos) {
    return Bad(std::string(what) + " '" + name +
               "' must be 1..64 characters of A-Z a-z 0-9 _ . -");
  }
  return Status::Ok();
}

}  // namespace

Status Validate(const NodeConfig& c) {
  if (c.name.empty()) return Bad("no node name (set `name` or --name)");
  if (Status st = CheckName(c.name, "node name"); !st.ok()) return st;
  if (c.members.empty() && c.seeds.empty()) {
    return Bad(
        "no cluster members and no seeds (set cluster.members, or "
        "cluster.seeds to learn them from a running cluster)");
  }
  if (!c.seeds.empty()) {
    if (!c.members.empty()) {
      return Bad("cluster.seeds and cluster.members exclude each other");
    }
    for (const std::string& seed : c.seeds) {
      if (auto ep = wire::ParseEndpoint(seed); !ep) {
        return Bad("cluster.seeds: " + ep.status().message());
      }
    }
    if (c.listen.empty()) {
      return Bad("a node started from cluster.seeds needs `listen`");
    }
  }
  std::set<std::string> names, addresses;
  bool self_found = c.members.empty();  // seeds: checked once learned
  for (const Member& m : c.members) {
    if (Status st = CheckName(m.name, "member name"); !st.ok()) return st;
    if (!names.insert(m.name).second) {
      return Bad("duplicate member name '" + m.name + "'");
    }
    if (!addresses.insert(m.address).second) {
      return Bad("duplicate member address '" + m.address + "'");
    }
    auto ep = wire::ParseEndpoint(m.address);
    if (!ep) return Bad("member '" + m.name + "': " + ep.status().message());
    if (!m.dc.empty()) {
      if (Status st = CheckName(m.dc, "datacenter"); !st.ok()) return st;
    }
    if (!m.rack.empty()) {
      if (Status st = CheckName(m.rack, "rack"); !st.ok()) return st;
    }
    if (m.name == c.name) {
      self_found = true;
      if ((!c.dc.empty() && c.dc != m.dc) ||
          (!c.rack.empty() && c.rack != m.rack)) {
        return Bad("dc/rack '" + c.dc + "'/'" + c.rack + "' differ from '" +
                   m.dc + "'/'" + m.rack +
                   "', this node's cluster.members "
                   "entry");
      }
    }
  }
  if (!self_found) {
    return Bad("node name '" + c.name + "' is not among cluster.members");
  }
  if (auto ep = wire::ParseEndpoint(c.listen); !ep) {
    return Bad("listen: " + ep.status().message());
  }
  if (!c.metrics_listen.empty()) {
    if (auto ep = wire::ParseEndpoint(c.metrics_listen); !ep) {
      return Bad("metrics_listen: " + ep.status().message());
    }
  }
  if (c.n < 1) return Bad("n must be at least 1");
  if (Status st = ring::CheckDcs(c.dcs, c.n); !st.ok()) {
    return Bad("cluster.n: " + st.message());
  }
  if (!c.members.empty() && c.n > c.members.size() && c.dcs.empty()) {
    return Bad("n=" + std::to_string(c.n) + " exceeds the member count " +
               std::to_string(c.members.size()));
  }
  if (c.w < 1 || c.w > c.n) {
    return Bad("w=" + std::to_string(c.w) +
               " must be between 1 and n=" + std::to_string(c.n));
  }
  if (c.r < 1 || c.r > c.n) {
    return Bad("r=" + std::to_string(c.r) +
               " must be between 1 and n=" + std::to_string(c.n));
  }
  if (!c.members.empty()) {
    std::vector<std::string> member_names(names.begin(), names.end());
    ring::Sites sites;
    for (const Member& m : c.members) sites[m.name] = {m.dc, m.rack};
    auto ring =
        ring::Ring::Create(member_names, {c.partitions, c.n, c.dcs}, sites);
    if (!ring) return ring.status();
  }
  if (c.max_value_bytes < 1 || c.max_value_bytes > c.max_object_bytes) {
    return Bad(
        "limits.max_value_bytes must be between 1 and "
        "limits.max_object_bytes");
  }
  if (c.max_object_bytes > (1ull << 30)) {
    return Bad("limits.max_object_bytes above 1 GiB is not supported");
  }
  if (c.request_timeout_ms < 1) return Bad("request_timeout_ms must be >= 1");
  if (c.max_connections < 1) return Bad("limits.max_connections must be >= 1");
  const uint64_t frame_cap = wire::FrameCapFor(c.max_object_bytes);
  if (c.max_inflight_bytes != 0 && c.max_inflight_bytes < 2 * frame_cap) {
    return Bad(
        "limits.max_inflight_bytes = " + std::to_string(c.max_inflight_bytes) +
        " must be 0 (no limit) or at least twice the frame cap (" +
        std::to_string(2 * frame_cap) +
        " bytes for limits.max_object_bytes = " +
        std::to_string(c.max_object_bytes) +
        "), so the largest frame always fits");
  }
  if (c.max_siblings != 0 && c.warn_siblings > c.max_siblings) {
    return Bad("limits.warn_siblings = " + std::to_string(c.warn_siblings) +
               " must not exceed limits.max_siblings = " +
               std::to_string(c.max_siblings));
  }
  if (c.heartbeat_ms < 10 || c.down_after_ms < 2 * c.heartbeat_ms) {
    return Bad(
        "failure.heartbeat_ms must be >= 10 and failure.down_after_ms "
        "at least twice it");
  }
  if (c.handoff_max_rate < 1 || c.handoff_batch < 1) {
    return Bad("handoff.max_rate and handoff.batch must be >= 1");
  }
  if (c.aae_interval_ms < 1 || c.aae_repair_rate < 1 ||
      c.aae_transfer_rate < 1) {
    return Bad(
        "antientropy.interval_ms, antientropy.repair_rate and "
        "antientropy.transfer_rate must be >= 1");
  }
  if (c.reap_interval.count() < 1 || c.reap_batch < 1 ||
      c.tombstone_grace.count() < 0) {
    return Bad(
        "storage.reap_interval must be at least 1ms, storage.reap_batch at "
        "least 1 and storage.tombstone_grace not negative");
  }
  if (c.storage.map_size_bytes < (1ull << 20)) {
    return Bad("storage.map_size must be at least 1 MiB");
  }
  static const std::set<std::string> kLevels = {"trace", "debug", "info",
                                                "warn",  "error", "off"};
  if (!kLevels.count(c.log_level)) {
    return Bad("log_level '" + c.log_level +
               "' is not one of trace, debug, info, warn, error, off");
  }
  return Status::Ok();
}

std::string ToToml(const NodeConfig& c) {
  toml::array members;
  for (const Member& m : c.members) {
    toml::table entry{{"name", m.name}, {"address", m.address}};
    if (!m.dc.empty()) entry.insert("dc", m.dc);
    if (!m.rack.empty()) entry.insert("rack", m.rack);
    members.push_back(std::move(entry));
  }
  toml::table cluster{{"w", c.w},
                      {"r", c.r},
                      {"conflict", quorum::ConflictPolicyName(c.conflict)}};
  if (c.seeds.empty()) {
    if (c.dcs.empty()) {
      cluster.insert("n", c.n);
    } else {
      toml::table per_dc;
      for (const ring::DcReplicas& d : c.dcs) per_dc.insert(d.dc, d.n);
      cluster.insert("n", per_dc);
    }
    cluster.insert("partitions", c.partitions);
    cluster.insert("members", members);
  } else {
    toml::array seeds;
    for (const std::string& s : c.seeds) seeds.push_back(s);
    cluster.insert("seeds", seeds);
  }
  toml::table root{
      {"name", c.name},
      {"dc", c.dc},
      {"rack", c.rack},
      {"listen", c.listen},
      {"data_dir", c.data_dir},
      {"metrics_listen", c.metrics_listen},
      {"log_level", c.log_level},
      {"cluster", cluster},
      {"storage",
       toml::table{{"map_size", static_cast<int64_t>(c.storage.map_size_bytes)},
                   {"sync", storage::SyncPolicyName(c.storage.sync)},
                   {"sync_interval_ms",
                    static_cast<int64_t>(c.storage.sync_interval.count())},
                   {"max_queued_writes",
                    static_cast<int64_t>(c.storage.max_queued_writes)},
                   {"reap", c.reap_enabled},
                   {"tombstone_grace", FormatDuration(c.tombstone_grace)},
                   {"reap_interval", FormatDuration(c.reap_interval)},
                   {"reap_batch", c.reap_batch}}},
      {"failure", toml::table{{"heartbeat_ms", c.heartbeat_ms},
                              {"down_after_ms", c.down_after_ms}}},
      {"handoff", toml::table{{"enabled", c.handoff_enabled},
                              {"max_rate", c.handoff_max_rate},
                              {"batch", c.handoff_batch},
                              {"max_hints_per_target",
                               static_cast<int64_t>(c.max_hints_per_target)}}},
      {"antientropy", toml::table{{"enabled", c.aae_enabled},
                                  {"interval_ms", c.aae_interval_ms},
                                  {"repair_rate", c.aae_repair_rate},
                                  {"transfer_rate", c.aae_transfer_rate}}},
      {"limits",
       toml::table{
           {"max_value_bytes", static_cast<int64_t>(c.max_value_bytes)},
           {"max_object_bytes", static_cast<int64_t>(c.max_object_bytes)},
           {"request_timeout_ms", c.request_timeout_ms},
           {"max_connections", c.max_connections},
           {"max_in_flight", c.max_in_flight},
           {"max_inflight_bytes", static_cast<int64_t>(c.max_inflight_bytes)},
           {"max_requests", c.max_requests},
           {"frame_timeout", FormatDuration(c.frame_timeout)},
           {"idle_timeout", FormatDuration(c.idle_timeout)},
           {"warn_siblings", c.warn_siblings},
           {"max_siblings", c.max_siblings}}},
  };
  if (c.TEST_reap_unsafe) {
    root["storage"].as_table()->insert("TEST_reap_unsafe", true);
  }
  std::ostringstream os;
  os << root << "\n";
  return os.str();
}

}  // namespace shoal::node
