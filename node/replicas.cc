#include "node/replicas.h"

#include <chrono>

#include "handoff/accept.h"
#include "wire/codec.h"

namespace shoal::node {

namespace asio = boost::asio;

quorum::Awaitable<Status> MergeLocally(storage::Store& store,
                                       const std::string& key,
                                       const ring::KeyLocation& loc,
                                       const quorum::Object& object) {
  storage::WriteOp op;
  op.kind = storage::WriteOp::Kind::kMerge;
  op.key = key;
  op.loc = loc;
  op.incoming = object;
  auto r = co_await storage::AsyncWrite(store, std::move(op));
  co_return r.status();
}

Status NodeReplicas::Refused(ring::NodeIndex node,
                             const cluster::ClusterState& state,
                             uint64_t epoch) {
  if (newer_) newer_(node, state);
  return Status(Code::kUnavailable,
                "node " + ring_.members()[node] + " holds cluster epoch " +
                    std::to_string(state.epoch) +
                    ", newer than the request's " + std::to_string(epoch) +
                    ": not served there");
}

quorum::Awaitable<Result<quorum::Object>> NodeReplicas::Read(
    ring::NodeIndex node, const std::string& key, const ring::KeyLocation& loc,
    quorum::Deadline deadline, uint64_t epoch) {
  if (node == self_) {
    auto r = store_.Get(key, loc);
    if (!r) co_return r.status();
    co_return std::move(r).value().value_or(quorum::Object{});
  }
  wire::Body request = wire::ReadRequest{key, epoch};
  auto reply = co_await peers_.Channel(node).Call(std::move(request), deadline);
  if (!reply) {
    peers_.ReportFailure(node, reply.status());
    co_return reply.status();
  }
  if (auto* rr = std::get_if<wire::ReadReply>(&reply.value())) {
    co_return std::move(rr->object);
  }
  if (auto* newer = std::get_if<wire::ClusterStateReply>(&reply.value())) {
    co_return Refused(node, newer->state, epoch);
  }
  co_return Status(Code::kInternal, "unexpected reply to a replica read");
}

quorum::Awaitable<Status> NodeReplicas::Replicate(
    ring::NodeIndex node, const std::string& key, const ring::KeyLocation& loc,
    const quorum::Object& object, quorum::Deadline deadline, uint64_t epoch,
    std::optional<ring::NodeIndex> hint_for) {
  if (node == self_) {
    if (!hint_for) co_return co_await MergeLocally(store_, key, loc, object);
    // This node is the fallback: it keeps the replica as a hint.
    auto r = co_await storage::AsyncWrite(
        store_, handoff::HintOp(ring_.members()[*hint_for], key, loc, object));
    co_return r.status();
  }
  wire::Body request = wire::ReplicateRequest{
      key, object, hint_for ? ring_.members()[*hint_for] : std::string(),
      epoch};
  auto reply = co_await peers_.Channel(node).Call(std::move(request), deadline);
  if (!reply) {
    peers_.ReportFailure(node, reply.status());
    co_return reply.status();
  }
  if (auto* newer = std::get_if<wire::ClusterStateReply>(&reply.value())) {
    co_return Refused(node, newer->state, epoch);
  }
  if (!std::holds_alternative<wire::ReplicateReply>(reply.value())) {
    co_return Status(Code::kInternal, "unexpected reply to a replicate");
  }
  co_return Status::Ok();
}

quorum::Awaitable<Result<quorum::Object>> NodeReplicas::CoordinateLocally(
    const quorum::PutArgs& args) {
  storage::WriteOp op;
  op.kind = storage::WriteOp::Kind::kCoordinate;
  op.key = args.key;
  op.loc = args.loc;
  op.context = args.context;
  op.value = args.value;
  // A `clock` fault skews this stamp: it is metadata (and the order of
  // conflict = "lww"), never causality.
  op.written_at_ms = clock_.WallMs() + faults_.clock_skew_ms();
  auto r = co_await storage::AsyncWrite(store_, std::move(op));
  if (!r) co_return r.status();
  co_return std::move(r->after);
}

quorum::Awaitable<Result<std::vector<Status>>> NodeReplicas::ReplicateVia(
    const std::vector<ring::ReplicaTarget>& targets, const std::string& key,
    const ring::KeyLocation& loc, const quorum::Object& object,
    quorum::Deadline deadline, uint64_t epoch, uint32_t wait_for) {
  SHOAL_REQUIRE(!targets.empty() && targets[0].node != self_,
                "ReplicateVia: the forwarder is another node");
  auto name = [this](std::optional<ring::NodeIndex> i) {
    return i ? ring_.members()[*i] : std::string();
  };
  const ring::ReplicaTarget& via = targets[0];
  wire::ReplicateRequest request{key, object, name(via.hint_for), epoch};
  for (size_t i = 1; i < targets.size(); ++i) {
    request.also.push_back(
        {ring_.members()[targets[i].node], name(targets[i].hint_for)});
  }
  // The forwarder answers by what is left of the deadline; its reply gets
  // a moment more to arrive.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_.Now());
  request.timeout_ms =
      static_cast<uint32_t>(std::max<int64_t>(1, left.count()));
  request.wait_for = wait_for;
  auto reply = co_await peers_.Channel(via.node).Call(
      wire::Body(std::move(request)),
      deadline + std::chrono::milliseconds(200));
  if (!reply) {
    peers_.ReportFailure(via.node, reply.status());
    co_return reply.status();
  }
  if (auto* newer = std::get_if<wire::ClusterStateReply>(&reply.value())) {
    co_return Refused(via.node, newer->state, epoch);
  }
  if (auto* e = std::get_if<wire::ErrorReply>(&reply.value())) {
    co_return e->status;
  }
  auto* rr = std::get_if<wire::ReplicateReply>(&reply.value());
  if (rr == nullptr || rr->results.size() != targets.size()) {
    co_return Status(Code::kInternal,
                     "a forwarder answered without one result per replica");
  }
  std::vector<Status> out;
  for (const wire::RelayResult& r : rr->results) out.push_back(r.status);
  co_return out;
}

quorum::Awaitable<Result<quorum::PutOutcome>> NodeReplicas::ForwardPut(
    ring::NodeIndex node, const quorum::PutArgs& args, uint64_t epoch) {
  wire::PutRequest put;
  put.key = args.key;
  put.is_delete = !args.value.has_value();
  if (args.value) put.value = *args.value;
  put.context = args.raw_context;
  // A level is resolved again by the coordinator, in the datacenter of the
  // node the client asked (local_quorum counts there).
  put.level = args.level;
  put.w = args.level == quorum::Level::kExplicit ? args.w : 0;
  if (!ring_.dcs().empty()) {
    put.local_dc = args.local_dc.empty() ? ring_.site(self_).dc : args.local_dc;
  }
  put.pw = args.pw;
  // The coordinator gets what is left of our deadline.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      args.deadline - clock_.Now());
  put.timeout_ms = static_cast<uint32_t>(std::max<int64_t>(1, left.count()));
  // The coordinator enforces the deadline; allow its error reply to arrive.
  wire::Body request = wire::CoordinatePutRequest{std::move(put), epoch};
  auto reply = co_await peers_.Channel(node).Call(
      std::move(request), args.deadline + std::chrono::milliseconds(200));
  if (!reply) {
    peers_.ReportFailure(node, reply.status());
    if (reply.status().code() == Code::kTimeout) {
      Status st(Code::kTimeout,
                "put forwarded to a primary got no answer in "
                "time; the write may have been applied");
      st.WithQuorum({0, args.w, 0, true});
      co_return st;
    }
    co_return reply.status();
  }
  if (auto* newer = std::get_if<wire::ClusterStateReply>(&reply.value())) {
    co_return Refused(node, newer->state, epoch);
  }
  auto* pr = std::get_if<wire::PutReply>(&reply.value());
  if (pr == nullptr) {
    co_return Status(Code::kInternal, "unexpected reply to a forwarded put");
  }
  auto context = wire::DecodeContext(pr->context, args.loc.hash);
  if (!context) co_return context.status();
  quorum::PutOutcome out;
  out.context = std::move(context.value());
  out.siblings = pr->siblings;
  out.seen = std::move(pr->seen);
  co_return out;
}

}  // namespace shoal::node
