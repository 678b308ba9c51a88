#include "node/service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "handoff/accept.h"
#include "wire/codec.h"

namespace shoal::node {

namespace asio = boost::asio;

namespace {
// The longest deadline a client may ask for.
constexpr uint32_t kMaxTimeoutMs = 60'000;

wire::Body Error(Status st) { return wire::ErrorReply{std::move(st)}; }
}  // namespace

Service::Service(asio::any_io_executor executor, Clock& clock,
                 const NodeConfig& config, const ring::Ring& ring,
                 ring::NodeIndex self, storage::Store& store, Peers& peers,
                 const handoff::Handoff& handoff, antientropy::AntiEntropy& aae,
                 reaper::Reaper& reaper, Gossip& gossip,
                 const Transfers& transfers, FaultTable& faults,
                 Admission& admission, RequestProbe& requests,
                 quorum::QuorumProbe& quorum, ServiceOptions options)
    : clock_(clock),
      config_(config),
      ring_(ring),
      self_(self),
      store_(store),
      peers_(peers),
      handoff_(handoff),
      aae_(aae),
      reaper_(reaper),
      gossip_(gossip),
      transfers_(transfers),
      faults_(faults),
      admission_(admission),
      requests_(requests),
      options_(options),
      replicas_(clock, ring, self, store, peers, faults,
                [this](ring::NodeIndex from, const cluster::ClusterState& s) {
                  (void)gossip_.Adopt(s, ring_.members()[from]);
                }),
      coordinator_(
          executor, clock, replicas_, ring, &quorum,
          quorum::CoordinatorOptions{
              .serialize_above_siblings = config.warn_siblings != 0
                                              ? config.warn_siblings
                                              : config.max_siblings / 2,
              .TEST_repair_skips_stale = options.TEST_repair_skips_stale}),
      started_(clock.Now()),
      tasks_(executor) {}

wire::Awaitable<void> Service::Shutdown() {
  tasks_.Cancel();
  co_await coordinator_.Shutdown();
  co_await tasks_.Wait();
}

namespace {
// The client requests limits.max_requests bounds, and the op each is
// counted as (nullopt: not bounded). A forwarded put is bounded where it is
// coordinated too, but counted where the client sent it.
struct ClientOp {
  RequestProbe::Op op;
  bool counted;
};
std::optional<ClientOp> BoundedOp(const wire::Body& body) {
  using Op = RequestProbe::Op;
  if (const auto* g = std::get_if<wire::GetRequest>(&body)) {
    return ClientOp{Op::kGet, !g->local};
  }
  if (const auto* p = std::get_if<wire::PutRequest>(&body)) {
    return ClientOp{p->is_delete ? Op::kDelete : Op::kPut, true};
  }
  if (const auto* c = std::get_if<wire::CoordinatePutRequest>(&body)) {
    return ClientOp{c->put.is_delete ? Op::kDelete : Op::kPut, false};
  }
  return std::nullopt;
}

// The epoch a replica request was routed by; 0 for any other message and
// for unstamped ones (hint deliveries).
uint64_t RequestEpoch(const wire::Body& body) {
  if (const auto* m = std::get_if<wire::ReadRequest>(&body)) return m->epoch;
  if (const auto* m = std::get_if<wire::ReplicateRequest>(&body)) {
    return m->epoch;
  }
  if (const auto* m = std::get_if<wire::CoordinatePutRequest>(&body)) {
    return m->epoch;
  }
  return 0;
}
}  // namespace

void Service::Handle(std::shared_ptr<wire::Connection> conn, wire::Message msg,
                     wire::RequestTicket ticket) {
  const uint64_t id = msg.id;
  if (tasks_.cancelled()) {
    // Shutting down: no request task can start; say so at once.
    Reply(conn,
          wire::Message{
              id, Error(Status(Code::kUnavailable, "unavailable: node " +
                                                       ring_.members()[self_] +
                                                       " is shutting down"))},
          false);
    return;
  }
  if (auto* hello = std::get_if<wire::Hello>(&msg.body)) {
    // A peer introducing itself: answer with who we are, so a member list
    // that points at the wrong node is caught at connect time.
    // A member's name labels the connection: faults are decided per peer,
    // and the limits meant for clients do not apply to it.
    spdlog::debug("peer {} connected from {}", hello->node, conn->remote());
    if (ring_.IndexOf(hello->node).ok()) conn->set_label(hello->node);
    Reply(conn, wire::Message{id, wire::Hello{ring_.members()[self_]}}, false);
    return;
  }
  if (auto* ping = std::get_if<wire::Ping>(&msg.body)) {
    // A member's heartbeat carries its cluster state epoch; ours goes back.
    if (auto peer = ring_.IndexOf(conn->label()); peer.ok()) {
      gossip_.Heard(*peer, ping->epoch, ping->digest, ping->transferred);
    }
    const wire::Ping ours = gossip_.Heartbeat();
    Reply(conn,
          wire::Message{id,
                        wire::Pong{ours.epoch, ours.digest, ours.transferred}},
          false);
    return;
  }
  // A replica request carries the epoch its sender routed it by
  // (doc/membership.md, "Requests across epochs"). From an older epoch it
  // is not served: the reply is this node's state, which the sender adopts
  // before it routes again. From a newer one it is served (a replica does
  // not route), and this node asks the sender for its state.
  if (const uint64_t stamped = RequestEpoch(msg.body); stamped != 0) {
    if (stamped < gossip_.keeper().epoch()) {
      Reply(conn, wire::Message{id, gossip_.RefuseStale(stamped)}, false);
      return;
    }
    if (auto peer = ring_.IndexOf(conn->label()); peer.ok()) {
      gossip_.Ahead(*peer, stamped);
    }
  }
  const bool exempt =
      std::holds_alternative<wire::StatusRequest>(msg.body) ||
      std::holds_alternative<wire::ClusterStateRequest>(msg.body) ||
      std::holds_alternative<wire::ClusterStageRequest>(msg.body) ||
      std::holds_alternative<wire::ClusterCommitRequest>(msg.body) ||
      std::holds_alternative<wire::FaultRequest>(msg.body);
  std::optional<Admission::Slot> slot;
  if (const auto client_op = BoundedOp(msg.body)) {
    slot = admission_.TryAdmit(clock_.Now());
    if (!slot) {
      // Refused at once: the honest answer to overload is fast.
      if (client_op->counted) {
        requests_.Request(client_op->op, Code::kOverloaded,
                          std::chrono::nanoseconds(0));
      }
      Reply(conn,
            wire::Message{
                id, Error(Status(
                        Code::kOverloaded,
                        "overloaded: node " + ring_.members()[self_] +
                            " is coordinating " +
                            std::to_string(admission_.in_flight()) +
                            " requests (limits.max_requests); back off and "
                            "retry"))},
            false);
      return;
    }
  }
  tasks_.Spawn(Serve(std::move(conn), id, exempt, std::move(msg.body),
                     std::move(ticket), std::move(slot)));
}

wire::Awaitable<void> Service::Serve(std::shared_ptr<wire::Connection> conn,
                                     uint64_t id, bool exempt, wire::Body body,
                                     wire::RequestTicket ticket,
                                     std::optional<Admission::Slot> slot) {
  std::optional<wire::Body> reply;
  std::string what;
  try {
    reply = co_await Dispatch(std::move(body));
  } catch (const boost::system::system_error& ex) {
    what = ex.what();
    if (ex.code() == asio::error::operation_aborted && tasks_.cancelled()) {
      // Shutdown() cancelled the request: not an internal error.
      reply = Error(Status(Code::kUnavailable,
                           "unavailable: node " + ring_.members()[self_] +
                               " shut down while serving the request"));
    }
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
    what = "unknown exception";
  }
  if (!reply) {
    spdlog::error("request {} failed with an exception: {}", id, what);
    reply = Error(Status(Code::kInternal, "internal error: " + what));
  }
  Reply(conn, wire::Message{id, std::move(*reply)}, exempt);
  slot.reset();
  ticket.Finish();
}

void Service::Reply(const std::shared_ptr<wire::Connection>& conn,
                    wire::Message msg, bool exempt) {
  const bool to_client = conn->label().empty();
  if (exempt && to_client) {
    conn->Send(msg);
    return;
  }
  const wire::FrameFate fate = faults_.Decide(conn->label());
  if (fate.drop) return;  // lost: the caller times out
  if (fate.delay.count() == 0) {
    conn->Send(msg);
    return;
  }
  // Held back by a timer task in the group: Shutdown() drops it (as a lost
  // reply), and after Shutdown() began it is not sent at all.
  tasks_.Spawn([](Clock& clock, std::shared_ptr<wire::Connection> conn,
                  wire::Message held,
                  std::chrono::milliseconds delay) -> wire::Awaitable<void> {
    Timer timer(clock, co_await asio::this_coro::executor);
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);
    conn->Send(held);
  }(clock_, conn, std::move(msg), fate.delay));
}

wire::Body Service::OnFault(wire::FaultRequest req) {
  if (req.set) {
    const size_t rules = req.rules.size();
    Status st = faults_.Set(std::move(req.rules), std::move(req.skews));
    if (!st.ok()) return Error(st);
    spdlog::warn("fault table set: {} rules, clock skew {} ms", rules,
                 faults_.clock_skew_ms());
  }
  return faults_.Report();
}

wire::Awaitable<wire::Body> Service::Dispatch(wire::Body body) {
  if (auto* m = std::get_if<wire::GetRequest>(&body)) {
    co_return co_await OnGet(std::move(*m));
  }
  if (auto* m = std::get_if<wire::PutRequest>(&body)) {
    co_return co_await OnPut(std::move(*m), /*forwarded=*/false);
  }
  if (auto* m = std::get_if<wire::CoordinatePutRequest>(&body)) {
    co_return co_await OnPut(std::move(m->put), /*forwarded=*/true);
  }
  if (auto* m = std::get_if<wire::ReadRequest>(&body)) {
    co_return co_await OnRead(std::move(*m));
  }
  if (auto* m = std::get_if<wire::ReplicateRequest>(&body)) {
    co_return co_await OnReplicate(std::move(*m));
  }
  if (std::holds_alternative<wire::StatusRequest>(body)) {
    co_return OnStatus();
  }
  if (std::holds_alternative<wire::ClusterStateRequest>(body)) {
    co_return wire::ClusterStateReply{gossip_.keeper().state()};
  }
  if (auto* m = std::get_if<wire::ClusterStageRequest>(&body)) {
    auto staged = gossip_.Stage(std::move(*m));
    if (!staged.ok()) co_return Error(staged.status());
    co_return std::move(staged).value();
  }
  if (auto* m = std::get_if<wire::ClusterCommitRequest>(&body)) {
    auto committed = gossip_.Commit(m->epoch);
    if (!committed.ok()) co_return Error(committed.status());
    co_return wire::ClusterStateReply{std::move(committed).value()};
  }
  if (std::holds_alternative<wire::HintsRequest>(body)) {
    co_return OnHints();
  }
  if (auto* m = std::get_if<wire::FaultRequest>(&body)) {
    co_return OnFault(std::move(*m));
  }
  // Anti-entropy: exchanges from peers, status and runs from operators.
  if (auto* m = std::get_if<wire::AaeTreeRequest>(&body)) {
    co_return aae_.OnTree(*m);
  }
  if (auto* m = std::get_if<wire::AaeKeysRequest>(&body)) {
    co_return aae_.OnKeys(*m);
  }
  if (auto* m = std::get_if<wire::AaeFetchRequest>(&body)) {
    co_return aae_.OnFetch(*m);
  }
  if (auto* m = std::get_if<wire::AaeRepairRequest>(&body)) {
    co_return co_await aae_.OnRepair(std::move(*m));
  }
  if (auto* m = std::get_if<wire::ReapCheckRequest>(&body)) {
    co_return reaper_.OnCheck(*m);
  }
  if (std::holds_alternative<wire::AaeStatusRequest>(body)) {
    co_return aae_.OnStatus();
  }
  if (auto* m = std::get_if<wire::AaeRunRequest>(&body)) {
    co_return co_await aae_.OnRun(*m);
  }
  co_return Error(Status(Code::kInvalidArgument,
                         "message type " + std::to_string(body.index()) +
                             " is a reply, not a request"));
}

Status Service::CheckKey(const std::string& key) const {
  if (key.empty()) {
    return Status(Code::kInvalidArgument, "empty key (keys are 1..500 bytes)");
  }
  if (key.size() > wire::kMaxKeyBytes) {
    return Status(Code::kTooLarge, "key of " + std::to_string(key.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(wire::kMaxKeyBytes) +
                                       " bytes");
  }
  return Status::Ok();
}

Result<uint32_t> Service::Quorum(uint32_t asked, const char* name) const {
  const uint32_t dflt = std::string_view(name) == "w" ? config_.w : config_.r;
  if (asked == 0) return dflt;
  if (asked > config_.n) {
    return Status(Code::kInvalidArgument,
                  std::string(name) + "=" + std::to_string(asked) +
                      " exceeds n=" + std::to_string(config_.n));
  }
  return asked;
}

Result<quorum::Requirement> Service::Need(quorum::Level level, uint32_t asked,
                                          uint32_t count, const char* name,
                                          std::string_view local_dc) const {
  if (level != quorum::Level::kExplicit && asked != 0) {
    return Status(Code::kInvalidArgument,
                  std::string(name) + "=" + std::to_string(asked) + " and " +
                      std::string(quorum::LevelName(level)) +
                      " exclude each other: give a count or a level");
  }
  uint32_t dc = ring_.DcOf(self_);
  // (Members may name a datacenter in a ring without per-DC counts: then
  // there is one, and the name is only a label.)
  if (!local_dc.empty() && !ring_.dcs().empty()) {
    dc = ring_.DcIndex(local_dc);
    if (dc == ring::Ring::kNoDc) {
      return Status(Code::kInvalidArgument, "local datacenter '" +
                                                std::string(local_dc) +
                                                "' is not one of the ring's");
    }
  }
  return quorum::Resolve(level, count, ring_.replicas(),
                         ring_.replicas_per_dc(), dc);
}

quorum::Deadline Service::DeadlineFor(uint32_t timeout_ms) const {
  if (timeout_ms == 0) timeout_ms = config_.request_timeout_ms;
  timeout_ms = std::min(timeout_ms, kMaxTimeoutMs);
  return clock_.Now() + std::chrono::milliseconds(timeout_ms);
}

namespace {
Code ResultCode(const wire::Body& reply) {
  if (const auto* e = std::get_if<wire::ErrorReply>(&reply)) {
    return e->status.code();
  }
  return Code::kOk;
}
}  // namespace

wire::Awaitable<wire::Body> Service::OnGet(wire::GetRequest req) {
  const auto start = clock_.Now();
  const bool local = req.local;
  wire::Body reply = co_await Get(std::move(req));
  if (!local) {
    requests_.Request(RequestProbe::Op::kGet, ResultCode(reply),
                      clock_.Now() - start);
    if (const auto* got = std::get_if<wire::GetReply>(&reply)) {
      requests_.Siblings(got->object.LiveSiblings().size());
    }
  }
  co_return reply;
}

wire::Awaitable<wire::Body> Service::OnPut(wire::PutRequest req,
                                           bool forwarded) {
  const auto start = clock_.Now();
  const auto op =
      req.is_delete ? RequestProbe::Op::kDelete : RequestProbe::Op::kPut;
  wire::Body reply = co_await Put(std::move(req), forwarded);
  // A forwarded put is counted where the client sent it.
  if (!forwarded) {
    requests_.Request(op, ResultCode(reply), clock_.Now() - start);
  }
  co_return reply;
}

wire::Awaitable<wire::Body> Service::Get(wire::GetRequest req) {
  if (Status st = CheckKey(req.key); !st.ok()) co_return Error(st);
  const ring::KeyLocation loc = ring_.Locate(req.key);
  if (req.local) {
    // Diagnostic: this node's own stored copy, no quorum, no repair.
    auto r = store_.Get(req.key, loc);
    if (!r) co_return Error(r.status());
    quorum::Object object = std::move(r).value().value_or(quorum::Object{});
    std::string context = wire::EncodeContext(object.vv, loc.hash);
    // No guarantee is given, and the session is handed back unchanged.
    co_return wire::GetReply{std::move(object), std::move(context),
                             std::move(req.session)};
  }
  auto r = Quorum(req.r, "r");
  if (!r) co_return Error(r.status());
  auto need = Need(req.level, req.r, *r, "r", "");
  if (!need) co_return Error(need.status());
  if (req.pr > config_.n) {
    co_return Error(Status(Code::kInvalidArgument,
                           "pr=" + std::to_string(req.pr) +
                               " exceeds n=" + std::to_string(config_.n)));
  }
  auto session = wire::DecodeSession(req.session);
  if (!session) co_return Error(session.status());
  quorum::GetArgs args{std::move(req.key), loc, need->total, req.pr,
                       DeadlineFor(req.timeout_ms)};
  args.dc_r = std::move(need->per_dc);
  if (const quorum::SessionFloor* f = session->Find(loc.hash)) args.floor = *f;
  auto got = co_await coordinator_.Get(std::move(args));
  if (!got) co_return Error(got.status());
  // The replicas each keep their last write; the answer keeps the last of
  // theirs, as their next merge will.
  if (config_.conflict == quorum::ConflictPolicy::kLastWriteWins) {
    quorum::KeepLastWrite(got.value());
  }
  std::string context = wire::EncodeContext(got->vv, loc.hash);
  std::string token;
  if (!req.session.empty()) {
    session->NoteRead(loc.hash, *got);
    token = wire::EncodeSession(*session);
  }
  co_return wire::GetReply{std::move(got.value()), std::move(context),
                           std::move(token)};
}

wire::Awaitable<wire::Body> Service::Put(wire::PutRequest req, bool forwarded) {
  if (Status st = CheckKey(req.key); !st.ok()) co_return Error(st);
  if (!req.is_delete && req.value.size() > config_.max_value_bytes) {
    co_return Error(
        Status(Code::kTooLarge, "value of " + std::to_string(req.value.size()) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(config_.max_value_bytes) +
                                    " bytes (limits.max_value_bytes)"));
  }
  auto w = Quorum(req.w, "w");
  if (!w) co_return Error(w.status());
  auto need = Need(req.level, req.w, *w, "w", req.local_dc);
  if (!need) co_return Error(need.status());
  if (req.pw > config_.n) {
    co_return Error(Status(Code::kInvalidArgument,
                           "pw=" + std::to_string(req.pw) +
                               " exceeds n=" + std::to_string(config_.n)));
  }
  quorum::PutArgs args;
  args.loc = ring_.Locate(req.key);
  const uint64_t key_hash = args.loc.hash;
  auto ctx = wire::DecodeContext(req.context, args.loc.hash);
  if (!ctx) co_return Error(ctx.status());
  auto session = wire::DecodeSession(req.session);
  if (!session) co_return Error(session.status());

  args.key = std::move(req.key);
  if (!req.is_delete) args.value = std::move(req.value);
  args.context = std::move(ctx.value());
  args.raw_context = std::move(req.context);
  args.w = need->total;
  args.dc_w = std::move(need->per_dc);
  args.level = req.level;
  args.local_dc = std::move(req.local_dc);
  args.pw = req.pw;
  args.timeout_ms = req.timeout_ms;
  args.deadline = DeadlineFor(req.timeout_ms);
  // (No co_await inside ?: — GCC 12 miscompiles it; see doc/impl.md.)
  Result<quorum::PutOutcome> out = Status(Code::kInternal, "unset");
  if (forwarded) {
    out = co_await coordinator_.CoordinatePut(std::move(args));
  } else {
    out = co_await coordinator_.Put(std::move(args));
  }
  if (!out) co_return Error(out.status());
  // (A put handed to another primary is observed where it is coordinated.)
  if (out->coordinated_here) NoteWriteSiblings(key_hash, out->siblings);
  wire::PutReply reply{wire::EncodeContext(out->context, key_hash),
                       out->siblings};
  // The node that forwarded the put updates its client's session with it.
  if (forwarded) reply.seen = out->seen;
  if (!req.session.empty()) {
    session->NoteWrite(key_hash, out->seen, /*live=*/!req.is_delete);
    reply.session = wire::EncodeSession(*session);
  }
  co_return reply;
}

void Service::NoteWriteSiblings(uint64_t key_hash, uint32_t siblings) {
  requests_.WriteSiblings(siblings);
  if (config_.warn_siblings == 0 || siblings <= config_.warn_siblings) return;
  requests_.SiblingsWarning();
  const auto now = clock_.Now();
  if (now - last_sibling_log_ < std::chrono::seconds(1)) {
    ++siblings_unlogged_;
    return;
  }
  spdlog::warn(
      "the key with hash {:016x} has {} siblings (limits.warn_siblings = {}, "
      "limits.max_siblings = {}): its writers do not read before writing{}",
      key_hash, siblings, config_.warn_siblings, config_.max_siblings,
      siblings_unlogged_ == 0
          ? std::string()
          : " (" + std::to_string(siblings_unlogged_) +
                " more such writes since the last message)");
  last_sibling_log_ = now;
  siblings_unlogged_ = 0;
}

wire::Awaitable<wire::Body> Service::OnRead(wire::ReadRequest req) {
  if (Status st = CheckKey(req.key); !st.ok()) co_return Error(st);
  auto r = store_.Get(req.key, ring_.Locate(req.key));
  if (!r) co_return Error(r.status());
  co_return wire::ReadReply{std::move(r).value().value_or(quorum::Object{})};
}

wire::Awaitable<wire::Body> Service::OnReplicate(wire::ReplicateRequest req) {
  if (Status st = CheckKey(req.key); !st.ok()) co_return Error(st);
  if (!req.also.empty()) co_return co_await OnRelay(std::move(req));
  storage::WriteOp op;
  if (!req.hint_for.empty()) {
    // Sloppy quorum: this node stands in for a primary that is down.
    auto hint = handoff::AcceptHint(ring_, self_, std::move(req));
    if (!hint) co_return Error(hint.status());
    op = std::move(hint).value();
  } else {
    op.kind = storage::WriteOp::Kind::kMerge;
    op.loc = ring_.Locate(req.key);
    op.key = std::move(req.key);
    op.incoming = std::move(req.object);
  }
  if (options_.TEST_ack_before_commit) {
    // The planted bug (ServiceOptions): the write goes on in the background
    // and the ack goes out now, whether or not it will commit.
    tasks_.Spawn([](storage::Store& store,
                    storage::WriteOp op) -> wire::Awaitable<void> {
      co_await storage::AsyncWrite(store, std::move(op));
    }(store_, std::move(op)));
    co_return wire::ReplicateReply{};
  }
  auto r = co_await storage::AsyncWrite(store_, std::move(op));
  if (!r) co_return Error(r.status());
  co_return wire::ReplicateReply{};
}

wire::Body Service::OnHints() {
  auto report = handoff_.Report(ring_.members()[self_]);
  if (!report) return Error(report.status());
  return std::move(report).value();
}

wire::Awaitable<wire::Body> Service::OnRelay(wire::ReplicateRequest req) {
  // This node is a datacenter's forwarder: it and `also` get the object.
  auto index = [this](const std::string& name) -> Result<ring::NodeIndex> {
    auto i = ring_.IndexOf(name);
    if (!i.ok()) {
      return Status(Code::kInvalidArgument,
                    "relay target '" + name + "' is not a member");
    }
    return i;
  };
  std::vector<ring::ReplicaTarget> targets;
  std::vector<std::string> names{ring_.members()[self_]};
  targets.push_back({self_, std::nullopt});
  if (!req.hint_for.empty()) {
    auto h = index(req.hint_for);
    if (!h.ok()) co_return Error(h.status());
    targets.back().hint_for = *h;
  }
  for (const wire::RelayTarget& t : req.also) {
    auto node = index(t.node);
    if (!node.ok()) co_return Error(node.status());
    ring::ReplicaTarget target{*node, std::nullopt};
    if (!t.hint_for.empty()) {
      auto h = index(t.hint_for);
      if (!h.ok()) co_return Error(h.status());
      target.hint_for = *h;
    }
    targets.push_back(target);
    names.push_back(t.node);
  }
  const ring::KeyLocation loc = ring_.Locate(req.key);
  std::vector<Status> results = co_await coordinator_.Relay(
      std::move(targets), std::move(req.key), loc, std::move(req.object),
      req.wait_for, DeadlineFor(req.timeout_ms), req.epoch);
  wire::ReplicateReply reply;
  for (size_t i = 0; i < results.size(); ++i) {
    reply.results.push_back({names[i], std::move(results[i])});
  }
  co_return reply;
}

wire::Body Service::OnStatus() {
  wire::StatusReply s;
  s.node = ring_.members()[self_];
  s.actor = store_.actor();
  s.n = config_.n;
  s.w = config_.w;
  s.r = config_.r;
  s.partitions = ring_.partitions();
  s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    clock_.Now() - started_)
                    .count();
  const auto stats = store_.Stats();
  s.keys = stats.keys;
  s.storage_bytes = stats.used_bytes;
  s.data_bytes = stats.data_bytes;
  s.map_size_bytes = stats.map_size_bytes;
  const cluster::Keeper& keeper = gossip_.keeper();
  s.epoch = keeper.epoch();
  s.cluster_digest = keeper.digest();
  s.transfer = transfers_.Progress();
  const reaper::Stats reaped = reaper_.stats();
  s.tombstones.count = stats.tombstones;
  s.tombstones.reaped = reaped.reaped;
  if (reaped.oldest_deleted_at_ms != 0 && stats.tombstones > 0) {
    s.tombstones.oldest_age_ms =
        std::max<int64_t>(0, clock_.WallMs() - reaped.oldest_deleted_at_ms);
    s.tombstones.waiting_for = reaped.oldest_waiting_for;
  }
  // (Peers stamp last_heard with steady_clock; with a SystemClock that is
  // Now()'s timeline.)
  const auto now = clock_.Now();
  for (ring::NodeIndex i = 0; i < ring_.members().size(); ++i) {
    wire::MemberStatus m;
    m.name = ring_.members()[i];
    m.address = peers_.Address(i);
    m.is_self = i == self_;
    m.up = peers_.IsUp(i);
    if (auto heard = peers_.LastHeard(i)) {
      m.last_heard_ms_ago =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - *heard)
              .count();
    }
    m.partitions_owned = static_cast<uint32_t>(ring_.PartitionsOf(i).size());
    m.dc = ring_.site(i).dc;
    m.rack = ring_.site(i).rack;
    if (const cluster::Member* member = keeper.state().Find(m.name)) {
      m.state = std::string(cluster::MemberStateName(member->state));
      m.address = member->address;  // a removed member has no peer link
    }
    if (m.is_self) {
      m.epoch = keeper.epoch();
    } else {
      const cluster::PeerReport report = keeper.ReportOf(m.name);
      m.epoch = report.epoch;
      m.conflict = report.conflict;
    }
    s.members.push_back(std::move(m));
  }
  return s;
}

}  // namespace shoal::node
