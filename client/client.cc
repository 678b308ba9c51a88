// Client: one RpcChannel, one request per call. The node enforces the real
// request deadline (timeout_ms travels in the request); the channel's
// deadline adds a second of slack so that the node's own timeout error,
// which carries quorum details, normally arrives before ours fires.
#include "client/client.h"

#include <utility>
#include <variant>

#include "ring/ring.h"
#include "wire/codec.h"

namespace shoal::client {
namespace {

constexpr uint32_t kDefaultTimeoutMs = 2000;
constexpr std::chrono::milliseconds kDeadlineSlack{1000};

Status UnexpectedReply() { return Status(Code::kInternal, "unexpected reply"); }

wire::RpcChannel::Options ChannelOptions(std::string address) {
  wire::RpcChannel::Options options;
  options.address = std::move(address);
  return options;
}

}  // namespace

Result<Session> Session::FromToken(std::string_view token) {
  auto floors = wire::DecodeSession(token);
  if (!floors.ok()) return floors.status();
  Session session;
  session.floors_ = std::move(floors).value();
  return session;
}

std::string Session::token() const { return wire::EncodeSession(floors_); }

std::string Client::SessionRequest(const Session* session,
                                   std::string_view key) {
  if (session == nullptr) return {};
  // An empty token still has bytes: the node knows the request has a
  // session.
  return wire::EncodeSession(session->floors_.Only(ring::HashKey(key)));
}

shoal::Status Client::SessionReply(Session* session, std::string_view reply) {
  if (session == nullptr) return shoal::Status::Ok();
  auto floors = wire::DecodeSession(reply);
  if (!floors.ok()) {
    return shoal::Status(Code::kInternal,
                         "the node's reply carried a bad session token: " +
                             floors.status().message());
  }
  for (const quorum::SessionFloor& f : floors->floors()) {
    session->floors_.Adopt(f);
  }
  return shoal::Status::Ok();
}

Client::Client(asio::any_io_executor executor, std::string address)
    : clock_(system_clock_),
      channel_(std::make_unique<wire::RpcChannel>(
          std::move(executor), ChannelOptions(std::move(address)))) {}

Client::Client(std::unique_ptr<wire::Channel> channel, Clock& clock)
    : clock_(clock), channel_(std::move(channel)) {}

wire::Deadline Client::DeadlineFor(uint32_t timeout_ms) const {
  const uint32_t ms = timeout_ms == 0 ? kDefaultTimeoutMs : timeout_ms;
  return clock_.Now() + std::chrono::milliseconds(ms) + kDeadlineSlack;
}

Awaitable<Result<GetResult>> Client::Get(std::string key, GetOptions options) {
  std::string session = SessionRequest(options.session, key);
  wire::GetRequest request{.key = std::move(key),
                           .r = options.r,
                           .timeout_ms = options.timeout_ms,
                           .local = options.local,
                           .pr = options.pr,
                           .session = std::move(session),
                           .level = options.level};
  const wire::Deadline deadline = DeadlineFor(options.timeout_ms);
  wire::Body body = std::move(request);
  Result<wire::Body> reply = co_await channel_->Call(std::move(body), deadline);
  if (!reply.ok()) co_return reply.status();
  auto* get = std::get_if<wire::GetReply>(&reply.value());
  if (get == nullptr) co_return UnexpectedReply();
  if (shoal::Status st = SessionReply(options.session, get->session);
      !st.ok()) {
    co_return st;
  }
  co_return ToGetResult(std::move(*get));
}

// Put and Delete build the request and hand it to Write; they are plain
// functions returning Write's awaitable (the request lives in Write's frame).
Awaitable<Result<PutResult>> Client::Write(wire::PutRequest request,
                                           Session* session) {
  request.session = SessionRequest(session, request.key);
  const wire::Deadline deadline = DeadlineFor(request.timeout_ms);
  wire::Body body = std::move(request);
  Result<wire::Body> reply = co_await channel_->Call(std::move(body), deadline);
  if (!reply.ok()) co_return reply.status();
  auto* put = std::get_if<wire::PutReply>(&reply.value());
  if (put == nullptr) co_return UnexpectedReply();
  if (shoal::Status st = SessionReply(session, put->session); !st.ok())
    co_return st;
  co_return ToPutResult(std::move(*put));
}

Awaitable<Result<PutResult>> Client::Put(std::string key, std::string value,
                                         PutOptions options) {
  wire::PutRequest request{.key = std::move(key),
                           .value = std::move(value),
                           .is_delete = false,
                           .context = std::move(options.context),
                           .w = options.w,
                           .timeout_ms = options.timeout_ms,
                           .pw = options.pw,
                           .level = options.level};
  return Write(std::move(request), options.session);
}

Awaitable<Result<PutResult>> Client::Delete(std::string key,
                                            PutOptions options) {
  wire::PutRequest request{.key = std::move(key),
                           .value = {},
                           .is_delete = true,
                           .context = std::move(options.context),
                           .w = options.w,
                           .timeout_ms = options.timeout_ms,
                           .pw = options.pw,
                           .level = options.level};
  return Write(std::move(request), options.session);
}

// Operator requests carry no timeout: the node answers from local state
// (or, for an anti-entropy run, as soon as the exchanges end), so the
// deadline is exactly `timeout`, without slack.
template <typename Reply>
Awaitable<Result<Reply>> Ask(wire::Channel& channel, Clock& clock,
                             wire::Body request,
                             std::chrono::milliseconds timeout) {
  const wire::Deadline deadline = clock.Now() + timeout;
  Result<wire::Body> reply =
      co_await channel.Call(std::move(request), deadline);
  if (!reply.ok()) co_return reply.status();
  auto* typed = std::get_if<Reply>(&reply.value());
  if (typed == nullptr) co_return UnexpectedReply();
  co_return std::move(*typed);
}

Awaitable<Result<wire::StatusReply>> Client::Status(
    std::chrono::milliseconds timeout) {
  return Ask<wire::StatusReply>(*channel_, clock_, wire::StatusRequest{},
                                timeout);
}

Awaitable<Result<cluster::ClusterState>> Client::ClusterState(
    std::chrono::milliseconds timeout) {
  auto reply = co_await Ask<wire::ClusterStateReply>(
      *channel_, clock_, wire::ClusterStateRequest{}, timeout);
  if (!reply.ok()) co_return reply.status();
  co_return std::move(reply.value().state);
}

Awaitable<Result<wire::ClusterStageReply>> Client::ClusterStage(
    wire::ClusterStageRequest request, std::chrono::milliseconds timeout) {
  return Ask<wire::ClusterStageReply>(*channel_, clock_, std::move(request),
                                      timeout);
}

Awaitable<Result<cluster::ClusterState>> Client::ClusterCommit(
    uint64_t epoch, std::chrono::milliseconds timeout) {
  auto reply = co_await Ask<wire::ClusterStateReply>(
      *channel_, clock_, wire::ClusterCommitRequest{epoch}, timeout);
  if (!reply.ok()) co_return reply.status();
  co_return std::move(reply.value().state);
}

Awaitable<Result<wire::HintsReply>> Client::Hints(
    std::chrono::milliseconds timeout) {
  return Ask<wire::HintsReply>(*channel_, clock_, wire::HintsRequest{},
                               timeout);
}

Awaitable<Result<wire::AaeStatusReply>> Client::AaeStatus(
    std::chrono::milliseconds timeout) {
  return Ask<wire::AaeStatusReply>(*channel_, clock_, wire::AaeStatusRequest{},
                                   timeout);
}

Awaitable<Result<wire::AaeRunReply>> Client::AaeRun(
    uint32_t partition, std::chrono::milliseconds timeout) {
  return Ask<wire::AaeRunReply>(*channel_, clock_,
                                wire::AaeRunRequest{partition}, timeout);
}

Awaitable<Result<wire::FaultReply>> Client::Fault(
    wire::FaultRequest request, std::chrono::milliseconds timeout) {
  wire::Body body = std::move(request);
  return Ask<wire::FaultReply>(*channel_, clock_, std::move(body), timeout);
}

GetResult ToGetResult(wire::GetReply reply) {
  GetResult result;
  result.found = reply.object.Found();
  for (const quorum::Sibling* sibling : reply.object.LiveSiblings()) {
    result.values.push_back(*sibling);
  }
  result.context = std::move(reply.context);
  result.object = std::move(reply.object);
  return result;
}

PutResult ToPutResult(wire::PutReply reply) {
  return PutResult{.context = std::move(reply.context),
                   .siblings = reply.siblings};
}

}  // namespace shoal::client
