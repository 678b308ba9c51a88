// The ring launcher. Everything here is process plumbing (fork/exec,
// signals, /proc) plus the ring.json format; the only network use is the
// status probe that tells when a started node answers.
#include "tools/ring/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <type_traits>

#include "base/node_names.h"
#include "client/client.h"
#include "ring/ring.h"
#include "tools/ring/http_get.h"

namespace shoal::tools {
namespace fs = std::filesystem;
namespace asio = boost::asio;
using client::Client;
using json = nlohmann::ordered_json;
using std::chrono::milliseconds;
using wire::Awaitable;

namespace {

constexpr const char* kStateFile = "ring.json";
constexpr const char* kLockFile = "ring.lock";
constexpr milliseconds kPollInterval{100};  // start-up status polls
// How long a commit waits for the members to report the state it is made
// on (CommitChange).
constexpr milliseconds kCommitConvergeWait{5000};
constexpr milliseconds kProbeTimeout{500};     // one status probe
constexpr milliseconds kPeersSeenWait{10000};  // then only a warning
constexpr milliseconds kExitPollInterval{50};  // waiting for exits
constexpr milliseconds kTermGrace{10000};      // SIGTERM -> SIGKILL
constexpr milliseconds kKillWait{5000};        // after SIGKILL
constexpr milliseconds kSignalSettle{2000};    // SIGSTOP/SIGCONT to show
constexpr size_t kLogTailLines = 20;

std::string Errno(int err) { return std::strerror(err); }

}  // namespace

namespace internal {

// Holds flock(LOCK_EX) on D/ring.lock for its lifetime.
class DirLock {
 public:
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  Status Acquire(const fs::path& dir) {
    const fs::path path = dir / kLockFile;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return Status(Code::kInternal,
                    "cannot open " + path.string() + ": " + Errno(errno));
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        return Status(Code::kInternal,
                      "cannot lock " + path.string() + ": " + Errno(errno));
      }
    }
    return Status::Ok();
  }

 private:
  int fd_ = -1;
};

}  // namespace internal

namespace {

Status StillAlive(const RingNode& node) {
  return Status(Code::kInternal, node.name + " (pid " +
                                     std::to_string(node.pid) +
                                     ") is still alive after SIGKILL");
}

}  // namespace

Status WriteFileAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      return Status(Code::kInternal, "cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    return Status(Code::kInternal,
                  "cannot rename " + tmp.string() + ": " + ec.message());
  }
  return Status::Ok();
}

namespace {

using internal::DirLock;

Status Corrupt(const std::string& why) {
  return Status(Code::kCorruption, "ring.json: " + why);
}

// The port of "host:port" (0 when malformed).
uint32_t PortOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<uint32_t>(
      std::strtoul(address.c_str() + colon + 1, nullptr, 10));
}

// Tries to bind 127.0.0.1:port the way a listener would (SO_REUSEADDR, as
// Asio's acceptor sets it), so a port shoald could not listen on fails here.
Status CheckPortFree(uint32_t port, const std::string& what) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Status(Code::kInternal, "socket(): " + Errno(errno));
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc =
      ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return Status(Code::kUnavailable,
                  "port " + std::to_string(port) + " (" + what +
                      ") is not free: " + Errno(err) +
                      "; stop whatever uses it or pick another --base-port");
  }
  return Status::Ok();
}

Status CheckNodePorts(const RingNode& node) {
  Status s = CheckPortFree(PortOf(node.address), node.name + " address");
  if (!s.ok()) return s;
  return CheckPortFree(PortOf(node.metrics_address), node.name + " metrics");
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::kNotFound, "cannot read " + path.string());
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Reaps `pid` if it is our exited child. Returns its wait status then.
std::optional<int> ReapIfChild(int pid) {
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) return status;
  return std::nullopt;
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    return std::string("was killed by signal ") +
           strsignal(WTERMSIG(wait_status));
  }
  return "exited";
}

// Polls until `done()` or `budget` passes. Returns done().
template <typename Pred>
bool PollUntil(Pred done, milliseconds budget, milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(interval);
  }
  return true;
}

// Stopped, and every thread of the process has exited: the main thread of
// a killed process turns zombie while its other threads still hold its
// sockets for a few milliseconds, so "stopped" alone is not yet "ports free".
bool Gone(const RingNode& node) {
  ReapIfChild(node.pid);
  if (ProbeNode(node) != NodeState::kStopped) return false;
  if (node.pid <= 0) return true;
  std::error_code ec;
  const fs::path tasks = "/proc/" + std::to_string(node.pid) + "/task";
  for (const auto& task : fs::directory_iterator(tasks, ec)) {
    Result<std::string> stat = ReadFile((task.path() / "stat").string());
    if (!stat.ok()) continue;  // exited meanwhile
    const size_t paren = stat->rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat->size()) continue;
    const char state = (*stat)[paren + 2];
    if (state != 'Z' && state != 'X' && state != 'x') return false;
  }
  return true;
}

// Runs one client call on `io` to completion.
template <typename T>
Result<T> RunSync(asio::io_context& io, Awaitable<Result<T>> call) {
  std::optional<Result<T>> out;
  asio::co_spawn(
      io,
      [](Awaitable<Result<T>> c,
         std::optional<Result<T>>* o) -> Awaitable<void> {
        *o = co_await std::move(c);
      }(std::move(call), &out),
      [&io](std::exception_ptr) { io.stop(); });
  io.restart();
  io.run();
  if (!out) return Status(Code::kInternal, "client call did not complete");
  return std::move(*out);
}

// One status probe; stores the reply when the node answers.
Awaitable<void> ProbeOnce(std::string address,
                          std::optional<wire::StatusReply>* out) {
  Client client(co_await asio::this_coro::executor, std::move(address));
  Result<wire::StatusReply> reply = co_await client.Status(kProbeTimeout);
  if (reply.ok()) *out = std::move(reply).value();
}

// Sends a status request to every node with !skip[i], concurrently, and
// runs `io` until all have answered or timed out. Connections left behind
// finish closing on the next run of `io` (or die with it).
std::vector<std::optional<wire::StatusReply>> ProbeRound(
    asio::io_context& io, const std::vector<RingNode>& nodes,
    const std::vector<bool>& skip) {
  std::vector<std::optional<wire::StatusReply>> replies(nodes.size());
  size_t outstanding = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (skip[i]) continue;
    ++outstanding;
    asio::co_spawn(io, ProbeOnce(nodes[i].address, &replies[i]),
                   [&outstanding, &io](std::exception_ptr) {
                     if (--outstanding == 0) io.stop();
                   });
  }
  if (outstanding > 0) {
    io.restart();
    io.run();
  }
  return replies;
}

// The members of `nodes` that `reply` does not report up (itself aside).
std::vector<std::string> UnseenPeers(const wire::StatusReply& reply,
                                     const std::vector<RingNode>& nodes) {
  std::vector<std::string> unseen;
  for (const RingNode& node : nodes) {
    bool up = false;
    for (const wire::MemberStatus& m : reply.members) {
      if (m.name == node.name) up = m.up || m.is_self;
    }
    if (!up) unseen.push_back(node.name);
  }
  return unseen;
}

// D must be missing, empty (but for ring.lock) or hold a ring.json: the
// launcher never writes into, or wipes, a directory that is not a ring's.
Status CheckRingDir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec) || fs::exists(dir / kStateFile, ec)) {
    return Status::Ok();
  }
  if (!fs::is_directory(dir, ec)) {
    return Status(Code::kInvalidArgument,
                  dir.string() + " exists and is not a directory");
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename() == kLockFile) continue;
    return Status(Code::kInvalidArgument,
                  dir.string() +
                      " is not empty and holds no ring.json; pick another "
                      "--dir (shoal only creates or wipes ring directories)");
  }
  return Status::Ok();
}

Result<RingNode*> FindNode(RingState& state, std::string_view name,
                           const fs::path& dir) {
  std::string known;
  for (RingNode& node : state.nodes) {
    if (node.name == name) return &node;
    known += (known.empty() ? "" : ", ") + node.name;
  }
  return Status(Code::kNotFound, "no node named '" + std::string(name) +
                                     "' in the ring in " + dir.string() +
                                     " (known: " + known + ")");
}

// Typed field access for RingStateFromJson.
template <typename T>
Status Field(const json& object, const char* key, T* out) {
  auto it = object.find(key);
  if (it == object.end())
    return Corrupt(std::string("missing \"") + key + "\"");
  try {
    if constexpr (std::is_same_v<T, std::string>) {
      if (!it->is_string()) throw std::invalid_argument("not a string");
    } else {
      if (!it->is_number_integer()) throw std::invalid_argument("not an int");
      if (it->template get<int64_t>() < 0) throw std::invalid_argument("< 0");
    }
    *out = it->template get<T>();
  } catch (const std::exception& e) {
    return Corrupt(std::string("bad \"") + key + "\": " + e.what());
  }
  return Status::Ok();
}

}  // namespace

// ---- pure parts ----

Status ValidateRingParams(const RingParams& p) {
  auto bad = [](const std::string& why) {
    return Status(Code::kInvalidArgument, why);
  };
  if (p.nodes < 1 || p.nodes > 100) {
    return bad("--nodes must be 1..100 (got " + std::to_string(p.nodes) + ")");
  }
  if (p.dcs > p.nodes) {
    return bad("--dcs " + std::to_string(p.dcs) + " needs at least " +
               std::to_string(p.dcs) + " nodes, --nodes is " +
               std::to_string(p.nodes));
  }
  if (p.n < 1 || p.n > p.nodes) {
    return bad("--n must be 1..--nodes (got n=" + std::to_string(p.n) +
               " with " + std::to_string(p.nodes) + " nodes)");
  }
  // With datacenters w and r count replies from all of them: at most the
  // replicas of every datacenter together.
  const uint32_t total = TotalReplicas(p);
  const std::string limit =
      p.dcs == 0 ? "--n"
                 : std::to_string(total) + ", the replicas of all " +
                       std::to_string(p.dcs) + " datacenters";
  const std::string with = p.dcs == 0 ? "n=" + std::to_string(p.n)
                                      : "n=" + std::to_string(p.n) +
                                            " per datacenter, " +
                                            std::to_string(total) + " in all";
  if (p.w < 1 || p.w > total) {
    return bad("--w must be 1.." + limit + " (got w=" + std::to_string(p.w) +
               " with " + with + ")");
  }
  if (p.r < 1 || p.r > total) {
    return bad("--r must be 1.." + limit + " (got r=" + std::to_string(p.r) +
               " with " + with + ")");
  }
  const uint32_t q = p.partitions;
  if (q == 0 || (q & (q - 1)) != 0 || q > 65536 || q < p.nodes) {
    return bad("--partitions must be a power of two in [nodes, 65536] (got " +
               std::to_string(q) + " with " + std::to_string(p.nodes) +
               " nodes)");
  }
  if (p.base_port < 1 || p.base_port + 100 + p.nodes > 65535) {
    return bad("--base-port " + std::to_string(p.base_port) +
               " puts ports out of range: the ring uses base+1..base+" +
               std::to_string(p.nodes) + " and base+101..base+" +
               std::to_string(100 + p.nodes) + ", all <= 65535");
  }
  if (p.sync != "periodic" && p.sync != "always" && p.sync != "none") {
    return bad("--sync must be periodic, always or none (got '" + p.sync +
               "')");
  }
  if (p.conflict != "siblings" && p.conflict != "lww") {
    return bad("--conflict must be siblings or lww (got '" + p.conflict + "')");
  }
  return Status::Ok();
}

std::string DescribeRingParams(const RingParams& p) {
  return "nodes=" + std::to_string(p.nodes) + " n=" + std::to_string(p.n) +
         " w=" + std::to_string(p.w) + " r=" + std::to_string(p.r) +
         " partitions=" + std::to_string(p.partitions) +
         " base-port=" + std::to_string(p.base_port) + " sync=" + p.sync +
         (p.conflict == "siblings" ? "" : " conflict=" + p.conflict) +
         (p.dcs == 0 ? "" : " dcs=" + std::to_string(p.dcs));
}

std::pair<uint32_t, uint32_t> DcNodeRange(uint32_t nodes, uint32_t dcs,
                                          uint32_t d) {
  SHOAL_ASSERT(dcs >= 1 && d >= 1 && d <= dcs, "a datacenter of the ring");
  const uint32_t base = nodes / dcs;
  const uint32_t larger = nodes % dcs;  // dc1..dc<larger> hold one more
  const uint32_t first = (d - 1) * base + std::min(d - 1, larger) + 1;
  const uint32_t size = base + (d <= larger ? 1 : 0);
  return {first, first + size - 1};
}

uint32_t DcReplicas(uint32_t n, uint32_t size) { return std::min(n, size); }

uint32_t TotalReplicas(const RingParams& p) {
  if (p.dcs == 0 || p.dcs > p.nodes) return p.n;
  uint32_t total = 0;
  for (uint32_t d = 1; d <= p.dcs; ++d) {
    const auto [first, last] = DcNodeRange(p.nodes, p.dcs, d);
    total += DcReplicas(p.n, last - first + 1);
  }
  return total;
}

uint32_t TotalReplicas(const RingState& state) {
  if (state.dcs.empty()) return state.n;
  uint32_t total = 0;
  for (const RingDc& dc : state.dcs) total += dc.n;
  return total;
}

std::string DescribeDcs(const RingState& state) {
  std::string out;
  for (const RingDc& dc : state.dcs) {
    out += (out.empty() ? "" : "; ") + dc.name + ":";
    for (const RingNode& node : state.nodes) {
      if (node.dc == dc.name) out += " " + node.name;
    }
  }
  return out;
}

std::pair<std::string, std::string> SiteForNewNode(const RingState& state) {
  if (state.dcs.empty()) return {};
  const RingDc* smallest = nullptr;
  size_t smallest_size = 0;
  for (const RingDc& dc : state.dcs) {
    const size_t size =
        std::count_if(state.nodes.begin(), state.nodes.end(),
                      [&](const RingNode& node) { return node.dc == dc.name; });
    if (smallest == nullptr || size < smallest_size) {
      smallest = &dc;
      smallest_size = size;
    }
  }
  const uint32_t racks = std::max<uint32_t>(1, smallest->n);
  std::string rack;
  size_t least = SIZE_MAX;
  for (uint32_t i = 1; i <= racks; ++i) {
    const std::string name = "r" + std::to_string(i);
    const size_t used = std::count_if(
        state.nodes.begin(), state.nodes.end(), [&](const RingNode& node) {
          return node.dc == smallest->name && node.rack == name;
        });
    if (used < least) {
      rack = name;
      least = used;
    }
  }
  return {smallest->name, rack};
}

RingState PlanRing(const fs::path& dir, const RingParams& params) {
  RingState state;
  state.n = params.n;
  state.w = params.w;
  state.r = params.r;
  state.partitions = params.partitions;
  state.base_port = params.base_port;
  state.sync = params.sync;
  state.conflict = params.conflict;
  for (uint32_t i = 1; i <= params.nodes; ++i) {
    state.nodes.push_back(NodeAt(dir, params.base_port, i));
  }
  for (uint32_t d = 1; params.dcs <= params.nodes && d <= params.dcs; ++d) {
    const auto [first, last] = DcNodeRange(params.nodes, params.dcs, d);
    const RingDc dc{"dc" + std::to_string(d),
                    DcReplicas(params.n, last - first + 1)};
    for (uint32_t i = first; i <= last; ++i) {
      RingNode& node = state.nodes[i - 1];
      node.dc = dc.name;
      node.rack = "r" + std::to_string((i - first) % std::max(1u, dc.n) + 1);
    }
    state.dcs.push_back(dc);
  }
  return state;
}

RingNode NodeAt(const fs::path& dir, uint32_t base_port, uint32_t index) {
  RingNode node;
  node.name = "n" + std::to_string(index);
  node.address = "127.0.0.1:" + std::to_string(base_port + index);
  node.metrics_address = "127.0.0.1:" + std::to_string(base_port + 100 + index);
  const fs::path home = dir / node.name;
  node.data_dir = (home / "data").string();
  node.config = (home / "node.toml").string();
  node.log = (home / "shoald.log").string();
  return node;
}

RingParams ParamsOf(const RingState& state) {
  RingParams p;
  p.nodes = static_cast<uint32_t>(state.nodes.size());
  p.n = state.n;
  p.w = state.w;
  p.r = state.r;
  p.partitions = state.partitions;
  p.base_port = state.base_port;
  p.sync = state.sync;
  p.conflict = state.conflict;
  p.dcs = static_cast<uint32_t>(state.dcs.size());
  return p;
}

json RingStateToJson(const RingState& state) {
  json nodes = json::array();
  for (const RingNode& node : state.nodes) {
    json item{{"name", node.name},
              {"address", node.address},
              {"metrics_address", node.metrics_address},
              {"data_dir", node.data_dir},
              {"config", node.config},
              {"log", node.log},
              {"pid", node.pid}};
    if (!node.dc.empty()) item["dc"] = node.dc;
    if (!node.rack.empty()) item["rack"] = node.rack;
    nodes.push_back(std::move(item));
  }
  json out{{"version", state.version},
           {"n", state.n},
           {"w", state.w},
           {"r", state.r},
           {"partitions", state.partitions},
           {"base_port", state.base_port},
           {"sync", state.sync},
           {"conflict", state.conflict}};
  if (!state.dcs.empty()) {
    json dcs = json::array();
    for (const RingDc& dc : state.dcs) {
      dcs.push_back(json{{"name", dc.name}, {"n", dc.n}});
    }
    out["dcs"] = std::move(dcs);
  }
  out["nodes"] = std::move(nodes);
  return out;
}

Result<RingState> RingStateFromJson(const json& j) {
  if (!j.is_object()) return Corrupt("not a JSON object");
  RingState state;
  Status s;
  if (!(s = Field(j, "version", &state.version)).ok()) return s;
  if (state.version != kRingStateVersion) {
    return Corrupt("version " + std::to_string(state.version) +
                   " is not supported (expected " +
                   std::to_string(kRingStateVersion) + ")");
  }
  if (!(s = Field(j, "n", &state.n)).ok()) return s;
  if (!(s = Field(j, "w", &state.w)).ok()) return s;
  if (!(s = Field(j, "r", &state.r)).ok()) return s;
  if (!(s = Field(j, "partitions", &state.partitions)).ok()) return s;
  if (!(s = Field(j, "base_port", &state.base_port)).ok()) return s;
  if (j.contains("sync") && !(s = Field(j, "sync", &state.sync)).ok()) {
    return s;
  }
  if (j.contains("conflict") &&
      !(s = Field(j, "conflict", &state.conflict)).ok()) {
    return s;
  }
  if (auto dcs = j.find("dcs"); dcs != j.end()) {
    if (!dcs->is_array()) return Corrupt("\"dcs\" must be an array");
    for (const json& item : *dcs) {
      if (!item.is_object()) return Corrupt("a datacenter is not an object");
      RingDc dc;
      if (!(s = Field(item, "name", &dc.name)).ok()) return s;
      if (!(s = Field(item, "n", &dc.n)).ok()) return s;
      if (dc.name.empty() || dc.n == 0) {
        return Corrupt("datacenter '" + dc.name + "' needs a name and n >= 1");
      }
      for (const RingDc& other : state.dcs) {
        if (other.name == dc.name) {
          return Corrupt("duplicate datacenter '" + dc.name + "'");
        }
      }
      state.dcs.push_back(std::move(dc));
    }
  }
  auto nodes = j.find("nodes");
  if (nodes == j.end() || !nodes->is_array()) {
    return Corrupt("\"nodes\" must be an array");
  }
  for (const json& item : *nodes) {
    if (!item.is_object()) return Corrupt("a node is not an object");
    RingNode node;
    if (!(s = Field(item, "name", &node.name)).ok()) return s;
    if (!(s = Field(item, "address", &node.address)).ok()) return s;
    if (!(s = Field(item, "metrics_address", &node.metrics_address)).ok()) {
      return s;
    }
    if (!(s = Field(item, "data_dir", &node.data_dir)).ok()) return s;
    if (!(s = Field(item, "config", &node.config)).ok()) return s;
    if (!(s = Field(item, "log", &node.log)).ok()) return s;
    if (!(s = Field(item, "pid", &node.pid)).ok()) return s;
    if (item.contains("dc") && !(s = Field(item, "dc", &node.dc)).ok()) {
      return s;
    }
    if (item.contains("rack") && !(s = Field(item, "rack", &node.rack)).ok()) {
      return s;
    }
    for (const RingNode& other : state.nodes) {
      if (other.name == node.name) {
        return Corrupt("duplicate node name '" + node.name + "'");
      }
    }
    // With datacenters every node is in one of them; without, in none.
    const bool known =
        state.dcs.empty()
            ? node.dc.empty()
            : std::any_of(state.dcs.begin(), state.dcs.end(),
                          [&](const RingDc& dc) { return dc.name == node.dc; });
    if (!known) {
      return Corrupt("node '" + node.name + "' has datacenter '" + node.dc +
                     "', not one of \"dcs\"");
    }
    state.nodes.push_back(std::move(node));
  }
  s = ValidateRingParams(ParamsOf(state));
  if (!s.ok()) return Corrupt(s.message());
  return state;
}

Result<RingState> ParseRingState(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt("not valid JSON");
  return RingStateFromJson(j);
}

Result<std::string> NodeConfigToml(const RingState& state, const RingNode& node,
                                   const std::vector<std::string>& seeds,
                                   std::string_view like) {
  toml::table cluster{{"w", static_cast<int64_t>(state.w)},
                      {"r", static_cast<int64_t>(state.r)},
                      {"conflict", state.conflict}};
  if (seeds.empty()) {
    toml::array members;
    for (const RingNode& m : state.nodes) {
      toml::table member{{"name", m.name}, {"address", m.address}};
      if (!m.dc.empty()) member.insert("dc", m.dc);
      if (!m.rack.empty()) member.insert("rack", m.rack);
      members.push_back(std::move(member));
    }
    if (state.dcs.empty()) {
      cluster.insert("n", static_cast<int64_t>(state.n));
    } else {
      // n = { dc1 = 3, dc2 = 3 }: replicas per datacenter.
      toml::table per_dc;
      for (const RingDc& dc : state.dcs) {
        per_dc.insert(dc.name, static_cast<int64_t>(dc.n));
      }
      per_dc.is_inline(true);
      cluster.insert("n", std::move(per_dc));
    }
    cluster.insert("partitions", static_cast<int64_t>(state.partitions));
    cluster.insert("members", std::move(members));
  } else {
    toml::array list;
    for (const std::string& seed : seeds) list.push_back(seed);
    cluster.insert("seeds", std::move(list));
  }
  toml::table root{
      {"name", node.name},
      {"listen", node.address},
      {"data_dir", node.data_dir},
      {"metrics_listen", node.metrics_address},
      {"log_level", "info"},
      {"cluster", std::move(cluster)},
      {"storage", toml::table{{"sync", state.sync}}},
  };
  if (!node.dc.empty()) root.insert("dc", node.dc);
  if (!node.rack.empty()) root.insert("rack", node.rack);
  if (!like.empty()) {
    toml::table parsed;
    try {
      parsed = toml::parse(like);
    } catch (const toml::parse_error& e) {
      return Status(Code::kInvalidArgument,
                    "a member's node.toml does not parse: " +
                        std::string(e.description()));
    }
    static const std::set<std::string_view> kOwn = {
        "name",    "listen", "data_dir", "metrics_listen",
        "cluster", "dc",     "rack"};
    for (const auto& [key, value] : parsed) {
      if (kOwn.count(key.str()) == 0) root.insert_or_assign(key.str(), value);
    }
  }
  std::ostringstream out;
  out << "# Written by `shoal ring up`; read by shoald --config.\n"
      << root << "\n";
  return out.str();
}

std::string PrometheusAddress(const RingState& state) {
  return "127.0.0.1:" + std::to_string(state.base_port + kPrometheusPortOffset);
}

std::string PrometheusConfigYaml(const RingState& state) {
  std::ostringstream out;
  out << "# Written by `shoal ring up`: scrapes every node of this ring.\n"
      << "# Start it with `shoal ring up --prometheus`, or by hand:\n"
      << "#   prometheus --config.file=THIS_FILE "
         "--web.listen-address="
      << PrometheusAddress(state) << "\n"
      << "# Alert rules: deploy/prometheus/alerts.yml in the source tree\n"
      << "# (add it under rule_files). Metrics: doc/metrics.md.\n"
      << "global:\n"
      << "  scrape_interval: 1s\n"
      << "  scrape_timeout: 1s\n"
      << "  evaluation_interval: 1s\n"
      << "scrape_configs:\n"
      << "  - job_name: shoal\n"
      << "    static_configs:\n";
  for (const RingNode& node : state.nodes) {
    out << "      - targets: ['" << node.metrics_address << "']\n"
        << "        labels:\n"
        << "          node: '" << node.name << "'\n";
  }
  return out.str();
}

KeyPlacement PlaceKey(const ring::Ring& ring,
                      const std::vector<RingNode>& nodes,
                      std::string_view key) {
  SHOAL_ASSERT(nodes.size() == ring.members().size(),
               "a node for every ring member");
  const ring::KeyLocation location = ring.Locate(key);
  KeyPlacement placement;
  placement.hash = location.hash;
  placement.partition = location.partition;
  const std::vector<ring::NodeIndex> primaries =
      ring.Primaries(location.partition);
  for (ring::NodeIndex i : ring.PreferenceList(location.partition)) {
    const bool primary =
        std::find(primaries.begin(), primaries.end(), i) != primaries.end();
    (primary ? placement.primaries : placement.fallbacks).push_back(nodes[i]);
  }
  return placement;
}

Result<KeyPlacement> PlaceKey(const RingState& state, std::string_view key) {
  std::vector<std::string> names;
  ring::Sites sites;
  for (const RingNode& node : state.nodes) {
    names.push_back(node.name);
    if (!node.dc.empty()) sites[node.name] = ring::Site{node.dc, node.rack};
  }
  // As the nodes build it from their node.toml: n is the sum of the
  // per-datacenter counts, which are sorted by name (dc10 before dc2).
  ring::RingOptions options;
  options.partitions = state.partitions;
  options.n = TotalReplicas(state);
  for (const RingDc& dc : state.dcs) options.dcs.push_back({dc.name, dc.n});
  std::sort(options.dcs.begin(), options.dcs.end(),
            [](const ring::DcReplicas& a, const ring::DcReplicas& b) {
              return a.dc < b.dc;
            });
  Result<ring::Ring> ring =
      ring::Ring::Create(std::move(names), std::move(options), sites);
  if (!ring.ok()) return ring.status();
  // Create sorts the members by name: the nodes in the ring's order.
  std::vector<RingNode> nodes;
  for (const std::string& name : ring->members()) {
    auto it = std::find_if(state.nodes.begin(), state.nodes.end(),
                           [&](const RingNode& n) { return n.name == name; });
    SHOAL_ASSERT(it != state.nodes.end(), "ring member not in ring.json");
    nodes.push_back(*it);
  }
  return PlaceKey(*ring, nodes, key);
}

Result<KeyPlacement> PlaceKey(const cluster::ClusterState& state,
                              std::string_view key) {
  Result<ring::Ring> ring = cluster::RingOf(state);
  if (!ring.ok()) return ring.status();
  std::vector<RingNode> nodes;
  for (const cluster::Member& m : state.members) {
    RingNode node;
    node.name = m.name;
    node.address = m.address;
    node.dc = m.dc;
    node.rack = m.rack;
    nodes.push_back(std::move(node));
  }
  return PlaceKey(*ring, nodes, key);
}

const char* NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kStopped:
      return "stopped";
    case NodeState::kRunning:
      return "running";
    case NodeState::kPaused:
      return "paused";
  }
  return "unknown";
}

NodeState ProbeNode(const RingNode& node) {
  if (node.pid <= 0) return NodeState::kStopped;
  if (::kill(node.pid, 0) != 0) return NodeState::kStopped;  // ESRCH, EPERM
  const std::string proc = "/proc/" + std::to_string(node.pid);

  // Is it this node's shoald? argv must be "<...>/shoald ... --config <cfg>".
  Result<std::string> cmdline = ReadFile(proc + "/cmdline");
  if (!cmdline.ok()) return NodeState::kStopped;
  std::vector<std::string> argv;
  std::string_view rest = *cmdline;
  while (!rest.empty()) {
    const size_t nul = rest.find('\0');
    argv.emplace_back(rest.substr(0, nul));
    if (nul == std::string_view::npos) break;
    rest.remove_prefix(nul + 1);
  }
  if (argv.empty() || fs::path(argv[0]).filename() != "shoald") {
    return NodeState::kStopped;
  }
  bool ours = false;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--config" && argv[i + 1] == node.config) ours = true;
  }
  if (!ours) return NodeState::kStopped;

  // /proc/<pid>/stat: "pid (comm) S ..." where comm may contain ')'.
  Result<std::string> stat = ReadFile(proc + "/stat");
  if (!stat.ok()) return NodeState::kStopped;
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat->size()) {
    return NodeState::kStopped;
  }
  switch ((*stat)[paren + 2]) {
    case 'Z':
    case 'X':
    case 'x':
      return NodeState::kStopped;
    case 'T':
    case 't':
      return NodeState::kPaused;
    default:
      return NodeState::kRunning;
  }
}

std::string TailFile(const fs::path& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - 64 * 1024);
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  size_t pos = text.size();
  for (size_t found = 0; found < lines; ++found) {
    const size_t nl = text.rfind('\n', pos == 0 ? 0 : pos - 1);
    if (nl == std::string::npos || pos == 0) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  if (pos > 0) ++pos;  // skip the newline itself
  return text.substr(pos);
}

// ---- Launcher ----

Launcher::Launcher(fs::path dir, fs::path shoald, Progress progress)
    : dir_(fs::absolute(dir).lexically_normal()),
      shoald_(std::move(shoald)),
      progress_(std::move(progress)) {
  // "a/b/" normalizes to "a/b/"; drop the trailing separator for messages.
  if (dir_.has_relative_path() && dir_.filename().empty()) {
    dir_ = dir_.parent_path();
  }
}

void Launcher::Report(const std::string& line) const {
  if (progress_) progress_(line);
}

Result<RingState> Launcher::Load() const {
  const fs::path path = dir_ / kStateFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status(Code::kNotFound, "no ring in " + dir_.string() +
                                       " (no ring.json); start one with "
                                       "`shoal ring up --dir " +
                                       dir_.string() + "`");
  }
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  Result<RingState> state = ParseRingState(*text);
  if (!state.ok()) {
    return Status(state.status().code(),
                  path.string() + ": " + state.status().message());
  }
  return state;
}

Result<RingState> Launcher::LockAndLoad(DirLock& lock) const {
  // Only lock a directory that holds a ring: no ring.lock appears elsewhere.
  Result<RingState> state = Load();
  if (!state.ok()) return state;
  Status s = lock.Acquire(dir_);
  if (!s.ok()) return s;
  return Load();  // again: another command may have changed it meanwhile
}

Status Launcher::Save(const RingState& state) const {
  return WriteFileAtomically(dir_ / kStateFile,
                             RingStateToJson(state).dump(2) + "\n");
}

Status Launcher::CheckShoald() const {
  if (shoald_.empty() || ::access(shoald_.c_str(), X_OK) != 0) {
    return Status(Code::kNotFound,
                  "shoald not found at " + shoald_.string() +
                      " (it must sit next to the shoal binary; build it "
                      "with `cmake --build <build> --target shoald`)");
  }
  return Status::Ok();
}

namespace {

// fork + setsid + exec of argv[0] (a path, or a name looked up in PATH),
// stdin from /dev/null, stdout and stderr appended to `log` after a banner,
// working directory `home`.
Result<int> SpawnProcess(std::vector<std::string> args, const std::string& name,
                         const std::string& log, const std::string& home) {
  const int log_fd =
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Status(Code::kInternal, "cannot open " + log + ": " + Errno(errno));
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    return Status(Code::kInternal, "cannot open /dev/null: " + Errno(errno));
  }
  const std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  const std::string banner = std::string("==== shoal ring: starting ") + name +
                             " at " + when + " ====\n";
  [[maybe_unused]] ssize_t ignored =
      ::write(log_fd, banner.data(), banner.size());

  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    if (::chdir(home.c_str()) != 0) {
      // Not fatal: every path in node.toml is absolute.
    }
    ::execvp(argv[0], argv.data());
    static constexpr char kMsg[] = "shoal ring: exec failed\n";
    ignored = ::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  ::close(null_fd);
  if (pid < 0) {
    return Status(Code::kInternal, "fork: " + Errno(fork_errno));
  }
  return static_cast<int>(pid);
}

}  // namespace

Result<int> Launcher::Spawn(const RingNode& node) const {
  return SpawnProcess({shoald_.string(), "--config", node.config}, node.name,
                      node.log, fs::path(node.config).parent_path().string());
}

// ---- Prometheus ----

namespace {

constexpr milliseconds kPrometheusReadyWait{30000};

// The pid in D/prometheus/pid if that process is a prometheus running on
// this ring's config (pids get reused), else 0.
int RunningPrometheus(const PrometheusInfo& info) {
  Result<std::string> text =
      ReadFile(fs::path(info.data_dir).parent_path() / "pid");
  if (!text.ok()) return 0;
  const int pid = std::atoi(text->c_str());
  if (pid <= 0 || ::kill(pid, 0) != 0) return 0;
  ReapIfChild(pid);
  Result<std::string> cmdline =
      ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok()) return 0;
  const std::string flag = "--config.file=" + info.config;
  if (cmdline->find(flag + '\0') == std::string::npos) return 0;
  Result<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return 0;
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat->size() ||
      (*stat)[paren + 2] == 'Z') {
    return 0;
  }
  return pid;
}

}  // namespace

PrometheusInfo Launcher::Prometheus(const RingState& state) const {
  PrometheusInfo info;
  info.config = (dir_ / "prometheus.yml").string();
  info.address = PrometheusAddress(state);
  info.data_dir = (dir_ / "prometheus" / "data").string();
  info.log = (dir_ / "prometheus" / "prometheus.log").string();
  info.pid = RunningPrometheus(info);
  return info;
}

Result<PrometheusInfo> Launcher::StartPrometheus(const RingState& state) const {
  PrometheusInfo info = Prometheus(state);
  if (info.pid != 0) return info;  // already running on this config
  Status s = CheckPortFree(PortOf(info.address), "prometheus");
  if (!s.ok()) return s;
  std::error_code ec;
  fs::create_directories(info.data_dir, ec);
  if (ec) {
    return Status(Code::kInternal,
                  "cannot create " + info.data_dir + ": " + ec.message());
  }
  Result<int> pid = SpawnProcess(
      {"prometheus", "--config.file=" + info.config,
       "--storage.tsdb.path=" + info.data_dir,
       "--web.listen-address=" + info.address, "--log.level=warn"},
      "prometheus", info.log, fs::path(info.data_dir).parent_path().string());
  if (!pid.ok()) return pid.status();
  info.pid = *pid;
  s = WriteFileAtomically(dir_ / "prometheus" / "pid",
                          std::to_string(info.pid) + "\n");
  if (!s.ok()) return s;
  const bool ready = PollUntil(
      [&] {
        if (ReapIfChild(info.pid)) return true;  // exited: stop waiting
        return HttpGet(info.address, "/-/ready", kProbeTimeout).ok();
      },
      kPrometheusReadyWait, kPollInterval);
  if (!ready || RunningPrometheus(info) == 0) {
    const std::string tail = TailFile(info.log, kLogTailLines);
    if (!tail.empty()) Report("prometheus log (" + info.log + "):\n" + tail);
    StopPrometheus(state);
    bool missing = tail.find("exec failed") != std::string::npos;
    return Status(missing ? Code::kNotFound : Code::kUnavailable,
                  missing ? std::string("prometheus is not installed "
                                        "(apt-get install prometheus)")
                          : "prometheus did not get ready on " + info.address +
                                " within 30 s (log: " + info.log + ")");
  }
  return info;
}

bool Launcher::StopPrometheus(const RingState& state) const {
  const PrometheusInfo info = Prometheus(state);
  if (info.pid == 0) return false;
  ::kill(info.pid, SIGTERM);
  auto gone = [&] {
    ReapIfChild(info.pid);
    return RunningPrometheus(info) == 0;
  };
  if (!PollUntil(gone, kTermGrace, kExitPollInterval)) {
    ::kill(info.pid, SIGKILL);
    PollUntil(gone, kKillWait, kExitPollInterval);
  }
  std::error_code ec;
  fs::remove(dir_ / "prometheus" / "pid", ec);
  return true;
}

Status Launcher::WaitUntilAnswering(const std::vector<RingNode>& nodes,
                                    milliseconds budget) const {
  asio::io_context io;
  std::vector<bool> up(nodes.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  size_t reported = SIZE_MAX;
  for (;;) {
    // A node that already exited will never answer: fail now, with its log.
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (up[i]) continue;
      std::optional<int> exit = ReapIfChild(nodes[i].pid);
      if (exit) {
        Report("---- last lines of " + nodes[i].log + " ----\n" +
               TailFile(nodes[i].log, kLogTailLines));
        return Status(Code::kUnavailable,
                      nodes[i].name + " (pid " + std::to_string(nodes[i].pid) +
                          ") " + DescribeExit(*exit) +
                          " during start-up; see " + nodes[i].log);
      }
    }

    // One round: probe every node not yet up, concurrently.
    const std::vector<std::optional<wire::StatusReply>> answered =
        ProbeRound(io, nodes, up);
    size_t count = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (answered[i].has_value()) up[i] = true;
      if (up[i]) ++count;
    }
    if (count != reported) {
      Report("waiting for " + std::to_string(nodes.size()) + " node" +
             (nodes.size() == 1 ? "" : "s") + ": " + std::to_string(count) +
             " up");
      reported = count;
    }
    if (count == nodes.size()) return Status::Ok();

    if (std::chrono::steady_clock::now() >= deadline) {
      size_t failing = 0;
      while (up[failing]) ++failing;
      const RingNode& node = nodes[failing];
      Report("---- last lines of " + node.log + " ----\n" +
             TailFile(node.log, kLogTailLines));
      return Status(Code::kTimeout, node.name + " at " + node.address +
                                        " did not answer within " +
                                        std::to_string(budget.count() / 1000) +
                                        " s (" + std::to_string(count) +
                                        " of " + std::to_string(nodes.size()) +
                                        " nodes up); see " + node.log);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void Launcher::WaitUntilPeersSeen(const std::vector<RingNode>& nodes,
                                  milliseconds budget) const {
  asio::io_context io;
  const std::vector<bool> skip(nodes.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  size_t reported = SIZE_MAX;
  for (;;) {
    const std::vector<std::optional<wire::StatusReply>> replies =
        ProbeRound(io, nodes, skip);
    size_t ready = 0;
    std::string lagging;  // the first lagging node, for the warning
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!replies[i]) {
        if (lagging.empty()) lagging = nodes[i].name + " does not answer";
        continue;
      }
      const std::vector<std::string> unseen = UnseenPeers(*replies[i], nodes);
      if (unseen.empty()) {
        ++ready;
      } else if (lagging.empty()) {
        lagging = nodes[i].name + " does not see";
        for (size_t k = 0; k < unseen.size(); ++k) {
          lagging += (k == 0 ? " " : ", ") + unseen[k];
        }
        lagging += " as up";
      }
    }
    if (ready == nodes.size()) return;
    if (ready != reported) {
      Report(
          "waiting for the nodes to see each other: " + std::to_string(ready) +
          " of " + std::to_string(nodes.size()) + " see every peer up");
      reported = ready;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      Report("warning: after " + std::to_string(budget.count() / 1000) + " s " +
             lagging +
             "; requests may fail until the nodes' failure "
             "detectors catch up");
      return;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::vector<NodeAction> Launcher::StopNodes(
    std::vector<RingNode>& nodes) const {
  std::vector<NodeAction> actions;
  for (RingNode& node : nodes) {
    NodeAction action{node, ProbeNode(node), NodeState::kStopped};
    if (action.before != NodeState::kStopped) {
      ::kill(node.pid, SIGTERM);
      // A stopped process only acts on SIGTERM once continued.
      if (action.before == NodeState::kPaused) ::kill(node.pid, SIGCONT);
    }
    actions.push_back(std::move(action));
  }
  auto all_gone = [&] {
    bool gone = true;
    for (const NodeAction& a : actions) {
      if (a.before != NodeState::kStopped && !Gone(a.node)) gone = false;
    }
    return gone;
  };
  if (!PollUntil(all_gone, kTermGrace, kExitPollInterval)) {
    for (NodeAction& a : actions) {
      if (a.before != NodeState::kStopped && !Gone(a.node)) {
        Report(a.node.name + " (pid " + std::to_string(a.node.pid) +
               ") ignored SIGTERM for " +
               std::to_string(kTermGrace.count() / 1000) +
               " s; sending SIGKILL");
        ::kill(a.node.pid, SIGKILL);
      }
    }
    PollUntil(all_gone, kKillWait, kExitPollInterval);
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    actions[i].after = ProbeNode(actions[i].node);
    if (actions[i].after == NodeState::kStopped) nodes[i].pid = 0;
  }
  return actions;
}

Result<RingState> Launcher::Up(const UpOptions& options) {
  // 0. Nothing is created in D before we know it is ours to use.
  Status s = CheckShoald();
  if (!s.ok()) return s;
  s = CheckRingDir(dir_);
  if (!s.ok()) return s;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    return Status(Code::kInternal,
                  "cannot create " + dir_.string() + ": " + ec.message());
  }
  DirLock lock;
  s = lock.Acquire(dir_);
  if (!s.ok()) return s;

  // 1. What is in D already? (Checked again under the lock.)
  s = CheckRingDir(dir_);
  if (!s.ok()) return s;
  std::optional<RingState> existing;
  if (fs::exists(dir_ / kStateFile)) {
    Result<RingState> loaded = Load();
    if (loaded.ok()) {
      for (const RingNode& node : loaded->nodes) {
        if (ProbeNode(node) != NodeState::kStopped) {
          return Status(Code::kInvalidArgument,
                        "a ring is already running in " + dir_.string() +
                            "; run `shoal ring down --dir " + dir_.string() +
                            "` first");
        }
      }
      existing = std::move(loaded).value();
    } else if (!options.fresh) {
      return Status(loaded.status().code(),
                    loaded.status().message() + "; use --fresh to wipe " +
                        dir_.string() + " and start over");
    }
  }

  // 2. The parameters: flags, else the existing ring's, else defaults.
  RingParams params;
  if (existing && !options.fresh) params = ParamsOf(*existing);
  if (options.nodes) params.nodes = *options.nodes;
  if (options.n) params.n = *options.n;
  if (options.w) params.w = *options.w;
  if (options.r) params.r = *options.r;
  if (options.partitions) params.partitions = *options.partitions;
  if (options.base_port) params.base_port = *options.base_port;
  if (options.sync) params.sync = *options.sync;
  if (options.conflict) params.conflict = *options.conflict;
  if (options.dcs) {
    if (*options.dcs == 0) {
      return Status(Code::kInvalidArgument,
                    "--dcs must be at least 1 (got 0); omit it for a ring "
                    "without datacenters");
    }
    params.dcs = *options.dcs;
  }
  s = ValidateRingParams(params);
  if (!s.ok()) return s;
  if (existing && !options.fresh && params != ParamsOf(*existing)) {
    return Status(Code::kInvalidArgument,
                  dir_.string() +
                      " holds a stopped ring with other "
                      "parameters (" +
                      DescribeRingParams(ParamsOf(*existing)) +
                      "); omit the flags to restart it with its data, or "
                      "add --fresh to wipe it and create a new one (" +
                      DescribeRingParams(params) + ")");
  }

  // 3. Wipe (fresh) or reuse, then lay out the directories and configs.
  RingState state;
  if (existing && !options.fresh) {
    state = *existing;
  } else {
    if (options.fresh) {
      const char* home = std::getenv("HOME");
      if (dir_ == dir_.root_path() || (home && dir_ == fs::path(home))) {
        return Status(Code::kInvalidArgument,
                      "refusing to wipe " + dir_.string());
      }
      for (const auto& entry : fs::directory_iterator(dir_, ec)) {
        if (entry.path().filename() == kLockFile) continue;
        fs::remove_all(entry.path(), ec);
        if (ec) {
          return Status(
              Code::kInternal,
              "cannot remove " + entry.path().string() + ": " + ec.message());
        }
      }
    }
    state = PlanRing(dir_, params);
  }
  for (const RingNode& node : state.nodes) {
    s = CheckNodePorts(node);
    if (!s.ok()) return s;
  }
  for (RingNode& node : state.nodes) {
    node.pid = 0;
    fs::create_directories(node.data_dir, ec);
    if (ec) {
      return Status(Code::kInternal,
                    "cannot create " + node.data_dir + ": " + ec.message());
    }
    if (!fs::exists(node.config)) {
      s = WriteFileAtomically(node.config, *NodeConfigToml(state, node));
      if (!s.ok()) return s;
    }
  }
  s = Save(state);
  if (!s.ok()) return s;
  s = WriteFileAtomically(dir_ / "prometheus.yml", PrometheusConfigYaml(state));
  if (!s.ok()) return s;
  if (options.prometheus) {
    if (state.base_port + kPrometheusPortOffset > 65535) {
      return Status(Code::kInvalidArgument,
                    "--prometheus listens on base-port+200, over 65535 with "
                    "--base-port " +
                        std::to_string(state.base_port));
    }
    if (Prometheus(state).pid == 0) {
      s = CheckPortFree(PortOf(PrometheusAddress(state)), "prometheus");
      if (!s.ok()) return s;
    }
  }

  // 4. Start every node, then wait until all of them answer.
  for (RingNode& node : state.nodes) {
    Result<int> pid = Spawn(node);
    if (!pid.ok()) {
      StopNodes(state.nodes);
      (void)Save(state);
      return pid.status();
    }
    node.pid = *pid;
  }
  s = Save(state);
  if (!s.ok()) return s;
  s = WaitUntilAnswering(state.nodes, options.wait);
  if (!s.ok()) {
    Report("stopping the nodes that were started");
    StopNodes(state.nodes);
    (void)Save(state);
    return s;
  }
  WaitUntilPeersSeen(state.nodes, kPeersSeenWait);
  if (options.prometheus) {
    Result<PrometheusInfo> prometheus = StartPrometheus(state);
    if (!prometheus.ok()) {
      Report("stopping the nodes that were started");
      StopNodes(state.nodes);
      (void)Save(state);
      return prometheus.status();
    }
  }
  return state;
}

Result<std::vector<NodeAction>> Launcher::Down() {
  if (!fs::exists(dir_ / kStateFile)) return std::vector<NodeAction>{};
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  std::vector<NodeAction> actions = StopNodes(state->nodes);
  if (StopPrometheus(*state)) Report("stopped prometheus");
  Status s = Save(*state);
  if (!s.ok()) return s;
  for (const NodeAction& a : actions) {
    if (a.after != NodeState::kStopped) {
      return StillAlive(a.node);
    }
  }
  return actions;
}

Result<NodeAction> Launcher::Kill(std::string_view name) {
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  Result<RingNode*> node = FindNode(*state, name, dir_);
  if (!node.ok()) return node.status();
  RingNode& target = **node;
  NodeAction action{target, ProbeNode(target), NodeState::kStopped};
  if (action.before != NodeState::kStopped) {
    ::kill(target.pid, SIGKILL);
    if (!PollUntil([&] { return Gone(target); }, kKillWait,
                   kExitPollInterval)) {
      return StillAlive(target);
    }
  }
  target.pid = 0;
  Status s = Save(*state);
  if (!s.ok()) return s;
  return action;
}

Result<NodeAction> Launcher::Stop(std::string_view name) {
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  Result<RingNode*> node = FindNode(*state, name, dir_);
  if (!node.ok()) return node.status();
  std::vector<RingNode> one{**node};
  std::vector<NodeAction> actions = StopNodes(one);
  if (actions[0].after != NodeState::kStopped) return StillAlive(one[0]);
  (*node)->pid = 0;
  Status s = Save(*state);
  if (!s.ok()) return s;
  return actions[0];
}

Result<NodeAction> Launcher::Start(std::string_view name) {
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  Result<RingNode*> node = FindNode(*state, name, dir_);
  if (!node.ok()) return node.status();
  RingNode& target = **node;
  const NodeState before = ProbeNode(target);
  if (before == NodeState::kRunning) {
    return NodeAction{target, before, before};
  }
  if (before == NodeState::kPaused) {
    return Status(Code::kInvalidArgument,
                  target.name +
                      " is paused; resume it with `shoal ring "
                      "resume " +
                      target.name + " --dir " + dir_.string() + "`");
  }
  Status s = CheckShoald();
  if (!s.ok()) return s;
  s = CheckNodePorts(target);
  if (!s.ok()) return s;
  std::error_code ec;
  fs::create_directories(target.data_dir, ec);
  if (!fs::exists(target.config)) {
    s = WriteFileAtomically(target.config, *NodeConfigToml(*state, target));
    if (!s.ok()) return s;
  }
  Result<int> pid = Spawn(target);
  if (!pid.ok()) return pid.status();
  target.pid = *pid;
  s = Save(*state);
  if (!s.ok()) return s;
  s = WaitUntilAnswering({target}, std::chrono::seconds(30));
  if (!s.ok()) {
    std::vector<RingNode> started{target};
    StopNodes(started);
    target.pid = 0;
    (void)Save(*state);
    return s;
  }
  std::vector<RingNode> running;
  for (const RingNode& node : state->nodes) {
    if (ProbeNode(node) == NodeState::kRunning) running.push_back(node);
  }
  WaitUntilPeersSeen(running, kPeersSeenWait);
  return NodeAction{target, before, NodeState::kRunning};
}

Result<uint64_t> Launcher::CommitChange(const std::string& address,
                                        const cluster::Change& change) const {
  asio::io_context io;
  Client client(io.get_executor(), address);
  // Right after a change completes, the committing node may not have heard
  // every member report the new epoch yet (a heartbeat away): it refuses
  // the commit until it has. That is retried for a few seconds; any other
  // refusal is final.
  const auto deadline = std::chrono::steady_clock::now() + kCommitConvergeWait;
  Result<cluster::ClusterState> committed =
      Status(Code::kInternal, "not committed");
  for (;;) {
    auto staged = RunSync(io, client.ClusterStage({{change}, /*clear=*/true},
                                                  std::chrono::seconds(5)));
    if (!staged.ok()) return staged.status();
    committed = RunSync(
        io, client.ClusterCommit(staged->epoch, std::chrono::seconds(5)));
    const bool converging =
        !committed.ok() && committed.status().code() == Code::kUnavailable &&
        committed.status().message().find("has not reported epoch") !=
            std::string::npos;
    if (!converging || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  if (!committed.ok()) return committed.status();
  Report("committed " + cluster::Describe(change) + " at " + address +
         ": epoch " + std::to_string(committed->epoch));
  return committed->epoch;
}

Status Launcher::WaitUntilChanged(const std::vector<std::string>& addresses,
                                  uint64_t epoch, milliseconds wait) const {
  asio::io_context io;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::string last;
  for (;;) {
    // The first node that has not completed the change, if any.
    Result<cluster::ClusterState> state =
        Status(Code::kInternal, "no node to ask");
    std::string address;
    for (const std::string& a : addresses) {
      Client client(io.get_executor(), a);
      state = RunSync(io, client.ClusterState(kProbeTimeout));
      address = a;
      if (!state.ok() || state->epoch <= epoch || state->changing()) break;
    }
    std::string line;
    if (state.ok() && state->epoch > epoch && !state->changing()) {
      Report("epoch " + std::to_string(state->epoch) +
             ": the change is complete");
      return Status::Ok();
    }
    if (state.ok()) {
      line = "epoch " + std::to_string(state->epoch) +
             (state->switched
                  ? ": transfers done, reads on the new owners; completing"
                  : ": partitions moving to " + [&] {
                      std::string names;
                      for (const std::string& r : cluster::Receivers(*state)) {
                        names += (names.empty() ? "" : ", ") + r;
                      }
                      return names;
                    }());
    } else {
      line = "asking " + address + ": " + state.status().message();
    }
    if (line != last) Report(line);
    last = line;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(Code::kTimeout,
                    "the change committed at epoch " + std::to_string(epoch) +
                        " is still in progress after " +
                        std::to_string(wait.count() / 1000) +
                        " s; it goes on (see `shoal cluster status`)");
    }
    std::this_thread::sleep_for(kPollInterval * 5);
  }
}

Result<NodeAction> Launcher::Add(milliseconds wait) {
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  Status s = CheckShoald();
  if (!s.ok()) return s;
  std::vector<std::string> seeds;
  for (const RingNode& node : state->nodes) {
    if (ProbeNode(node) == NodeState::kRunning) seeds.push_back(node.address);
  }
  if (seeds.empty()) {
    return Status(Code::kUnavailable, "no node of the ring in " +
                                          dir_.string() +
                                          " is running: start the ring first");
  }
  RingNode node = NodeAt(dir_, state->base_port, NextIndex(*state, seeds[0]));
  std::tie(node.dc, node.rack) = SiteForNewNode(*state);
  s = CheckNodePorts(node);
  if (!s.ok()) return s;
  auto epoch = CommitChange(
      seeds.front(),
      cluster::Change::Join(node.name, node.address, node.dc, node.rack));
  if (!epoch.ok()) return epoch.status();
  return StartNewMember(*state, std::move(node), seeds, *epoch, wait);
}

Result<NodeAction> Launcher::Remove(std::string_view name, milliseconds wait) {
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  Result<RingNode*> found = FindNode(*state, name, dir_);
  if (!found.ok()) return found.status();
  RingNode target = **found;
  std::vector<std::string> staying;  // the running nodes that stay
  for (const RingNode& node : state->nodes) {
    if (node.name != target.name && ProbeNode(node) == NodeState::kRunning) {
      staying.push_back(node.address);
    }
  }
  if (staying.empty()) {
    return Status(Code::kUnavailable,
                  "no other node of the ring is running to commit the leave");
  }
  const NodeState before = ProbeNode(target);
  auto epoch =
      CommitChange(staying.front(), cluster::Change::Leave(target.name));
  if (!epoch.ok()) return epoch.status();
  Status s = WaitUntilChanged(staying, *epoch, wait);
  if (!s.ok()) return s;
  std::vector<RingNode> stopping{target};
  StopNodes(stopping);
  std::erase_if(state->nodes,
                [&](const RingNode& n) { return n.name == target.name; });
  s = Save(*state);
  if (!s.ok()) return s;
  std::error_code ec;
  fs::remove_all(dir_ / target.name, ec);
  return NodeAction{target, before, NodeState::kStopped};
}

uint32_t Launcher::NextIndex(const RingState& state,
                             const std::string& address) const {
  std::vector<std::string> names;  // ring.json's and the cluster's
  for (const RingNode& node : state.nodes) names.push_back(node.name);
  asio::io_context io;
  Client client(io.get_executor(), address);
  auto cluster_state = RunSync(io, client.ClusterState(kProbeTimeout));
  if (cluster_state.ok()) {
    for (const cluster::Member& m : cluster_state->members) {
      names.push_back(m.name);
    }
  }
  return NextNodeIndex(names);
}

Result<NodeAction> Launcher::Replace(std::string_view name, milliseconds wait) {
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  Result<RingNode*> found = FindNode(*state, name, dir_);
  if (!found.ok()) return found.status();
  RingNode old = **found;
  Status s = CheckShoald();
  if (!s.ok()) return s;
  std::vector<std::string> seeds;  // the running nodes that stay
  for (const RingNode& node : state->nodes) {
    if (node.name != old.name && ProbeNode(node) == NodeState::kRunning) {
      seeds.push_back(node.address);
    }
  }
  if (seeds.empty()) {
    return Status(Code::kUnavailable,
                  "no other node of the ring is running to commit the "
                  "replacement of " +
                      old.name);
  }
  RingNode node = NodeAt(dir_, state->base_port, NextIndex(*state, seeds[0]));
  node.dc = old.dc;  // the cluster gives the new node the old one's site
  node.rack = old.rack;
  s = CheckNodePorts(node);
  if (!s.ok()) return s;
  // Committed first (a refusal changes nothing); the new node copies from
  // the other replicas, never from the replaced one.
  auto epoch =
      CommitChange(seeds.front(),
                   cluster::Change::Replace(old.name, node.name, node.address));
  if (!epoch.ok()) return epoch.status();
  // The old node is gone for good, its disk with it.
  if (ProbeNode(old) != NodeState::kStopped) {
    ::kill(old.pid, SIGKILL);
    if (!PollUntil([&] { return Gone(old); }, kKillWait, kExitPollInterval)) {
      return StillAlive(old);
    }
  }
  std::error_code ec;
  fs::remove_all(dir_ / old.name, ec);
  std::erase_if(state->nodes,
                [&](const RingNode& n) { return n.name == old.name; });
  s = Save(*state);
  if (!s.ok()) return s;
  return StartNewMember(*state, std::move(node), seeds, *epoch, wait);
}

Result<NodeAction> Launcher::StartNewMember(
    RingState& state, RingNode node, const std::vector<std::string>& seeds,
    uint64_t epoch, milliseconds wait) {
  std::error_code ec;
  fs::create_directories(node.data_dir, ec);
  // It runs with the settings of the member it learns the cluster from.
  std::string like;
  for (const RingNode& member : state.nodes) {
    if (member.address != seeds.front()) continue;
    Result<std::string> text = ReadFile(member.config);
    if (!text.ok()) return text.status();
    like = std::move(text).value();
  }
  Result<std::string> config = NodeConfigToml(state, node, seeds, like);
  if (!config.ok()) return config.status();
  Status s = WriteFileAtomically(node.config, *config);
  if (!s.ok()) return s;
  Result<int> pid = Spawn(node);
  if (!pid.ok()) return pid.status();
  node.pid = *pid;
  state.nodes.push_back(node);
  s = Save(state);
  if (!s.ok()) return s;
  s = WaitUntilAnswering({node}, std::chrono::seconds(30));
  if (!s.ok()) return s;
  std::vector<std::string> members = seeds;
  members.push_back(node.address);
  s = WaitUntilChanged(members, epoch, wait);
  if (!s.ok()) return s;
  return NodeAction{node, NodeState::kStopped, NodeState::kRunning};
}

Result<cluster::ClusterState> Launcher::ClusterStateOfRing() const {
  Result<RingState> state = Load();
  if (!state.ok()) return state.status();
  asio::io_context io;
  Status last =
      Status(Code::kUnavailable, "no node of the ring in " + dir_.string() +
                                     " is running: start the ring first");
  for (const RingNode& node : state->nodes) {
    if (ProbeNode(node) != NodeState::kRunning) continue;
    Client client(io.get_executor(), node.address);
    auto cluster_state = RunSync(io, client.ClusterState(kProbeTimeout));
    if (cluster_state.ok()) return cluster_state;
    last = Status(Code::kUnavailable,
                  "no running node of the ring in " + dir_.string() +
                      " told its cluster state (last: " + node.name + ": " +
                      cluster_state.status().message() + ")");
  }
  return last;
}

Result<Launcher::Settled> Launcher::Settle(milliseconds wait) {
  DirLock lock;
  Result<RingState> ring = LockAndLoad(lock);
  if (!ring.ok()) return ring.status();
  asio::io_context io;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::string last;
  for (;;) {
    // Every running node's state; settled when the members among them hold
    // one state with no change in progress.
    std::string why;
    std::optional<cluster::ClusterState> settled;
    std::vector<std::pair<std::string, cluster::ClusterState>> held;
    for (const RingNode& node : ring->nodes) {
      if (ProbeNode(node) != NodeState::kRunning) continue;
      Client client(io.get_executor(), node.address);
      auto st = RunSync(io, client.ClusterState(kProbeTimeout));
      if (!st.ok()) {
        why = node.name + " does not tell its cluster state (" +
              st.status().message() + ")";
        break;
      }
      held.emplace_back(node.name, std::move(st).value());
    }
    if (why.empty() && held.empty()) {
      return Status(Code::kUnavailable,
                    "no node of the ring in " + dir_.string() + " is running");
    }
    if (why.empty()) {
      // The newest state decides who is a member.
      const cluster::ClusterState* newest = &held.front().second;
      for (const auto& [name, st] : held) {
        if (st.epoch > newest->epoch) newest = &st;
      }
      if (newest->changing()) {
        std::string receivers;
        for (const std::string& r : cluster::Receivers(*newest)) {
          receivers += (receivers.empty() ? "" : ", ") + r;
        }
        why = "epoch " + std::to_string(newest->epoch) +
              ": a change is in progress (" +
              (newest->switched ? "transfers done, completing"
                                : "partitions moving to " + receivers) +
              ")";
      }
      for (const auto& [name, st] : held) {
        if (!why.empty()) break;
        const cluster::Member* m = newest->Find(name);
        if (m == nullptr || m->state == cluster::MemberState::kRemoved) {
          continue;
        }
        if (st.epoch != newest->epoch || st.Digest() != newest->Digest()) {
          why = name + " holds epoch " + std::to_string(st.epoch) + ", not " +
                std::to_string(newest->epoch);
        }
      }
      if (why.empty()) settled = *newest;
    }
    if (settled) {
      Settled out;
      out.state = *settled;
      std::vector<RingNode> removed;
      for (const RingNode& node : ring->nodes) {
        const cluster::Member* m = settled->Find(node.name);
        if (m != nullptr && m->state == cluster::MemberState::kRemoved) {
          removed.push_back(node);
        }
      }
      if (!removed.empty()) {
        StopNodes(removed);
        for (const RingNode& node : removed) {
          std::erase_if(ring->nodes,
                        [&](const RingNode& n) { return n.name == node.name; });
          std::error_code ec;
          fs::remove_all(dir_ / node.name, ec);
          out.stopped.push_back(node.name);
          Report(node.name + " was removed from the cluster: stopped");
        }
        Status s = Save(*ring);
        if (!s.ok()) return s;
      }
      return out;
    }
    if (why != last) Report(why);
    last = why;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(Code::kTimeout, "the cluster did not settle within " +
                                        std::to_string(wait.count() / 1000) +
                                        " s: " + why);
    }
    std::this_thread::sleep_for(kPollInterval * 5);  // poll
  }
}

Result<NodeAction> Launcher::Pause(std::string_view name) {
  return SignalRunning(name, NodeState::kRunning, SIGSTOP);
}

Result<NodeAction> Launcher::Resume(std::string_view name) {
  return SignalRunning(name, NodeState::kPaused, SIGCONT);
}

// Sends `signal` to a node that is in state `from` (SIGSTOP to a running
// one, SIGCONT to a paused one) and waits until its state changed; a node in
// the other live state is left as it is, a stopped one is an error.
Result<NodeAction> Launcher::SignalRunning(std::string_view name,
                                           NodeState from, int signal) {
  DirLock lock;
  Result<RingState> state = LockAndLoad(lock);
  if (!state.ok()) return state.status();
  Result<RingNode*> node = FindNode(*state, name, dir_);
  if (!node.ok()) return node.status();
  const RingNode& target = **node;
  const NodeState before = ProbeNode(target);
  if (before == NodeState::kStopped) {
    return Status(Code::kInvalidArgument,
                  target.name +
                      " is not running; start it with `shoal ring "
                      "start " +
                      target.name + " --dir " + dir_.string() + "`");
  }
  if (before == from) {
    ::kill(target.pid, signal);
    PollUntil([&] { return ProbeNode(target) != from; }, kSignalSettle,
              kExitPollInterval);
  }
  return NodeAction{target, before, ProbeNode(target)};
}

Result<std::vector<std::pair<RingNode, NodeState>>> Launcher::Probe() const {
  Result<RingState> state = Load();
  if (!state.ok()) return state.status();
  std::vector<std::pair<RingNode, NodeState>> out;
  for (const RingNode& node : state->nodes) {
    out.emplace_back(node, ProbeNode(node));
  }
  return out;
}

Result<std::string> Launcher::FirstRunningAddress() const {
  Result<RingState> state = Load();
  if (state.ok()) {
    for (const RingNode& node : state->nodes) {
      if (ProbeNode(node) == NodeState::kRunning) return node.address;
    }
  }
  return Status(Code::kUnavailable,
                "no running ring in " + dir_.string() +
                    "; start one with `shoal ring up` or pass --node");
}

}  // namespace shoal::tools
