#include "tests/sim/network.h"

#include <xxhash.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "base/assert.h"
#include "wire/codec.h"

namespace shoal::sim {

namespace asio = boost::asio;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

int64_t Us(Clock::TimePoint t, Clock::TimePoint start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t - start)
      .count();
}

// The frame's bytes round trip through the codec, as on a socket.
Result<wire::Message> ThroughCodec(const wire::Message& msg, uint64_t frame_cap,
                                   uint64_t* hash) {
  std::vector<uint8_t> frame;
  wire::AppendFrame(msg, frame);
  *hash = XXH3_64bits(frame.data(), frame.size());
  const size_t body_bytes = frame.size() - wire::kFrameHeaderBytes;
  std::vector<uint64_t> body(body_bytes / 8);
  std::memcpy(body.data(), frame.data() + wire::kFrameHeaderBytes, body_bytes);
  return wire::DecodeFrameBody(body, frame_cap);
}

}  // namespace

// The receiving node's side of one channel: the wire::Connection a node's
// service replies on.
class ServerEnd final : public wire::Connection,
                        public std::enable_shared_from_this<ServerEnd> {
 public:
  ServerEnd(Network& net, std::string node, std::string peer, std::string label,
            uint64_t incarnation, uint64_t channel_id,
            asio::any_io_executor executor)
      : net_(net),
        node_(std::move(node)),
        peer_(std::move(peer)),
        label_(std::move(label)),
        incarnation_(incarnation),
        channel_id_(channel_id),
        executor_(std::move(executor)) {}

  void Send(const wire::Message& msg) override;
  void Close() override { open_ = false; }
  bool open() const override { return open_; }
  std::string remote() const override { return peer_; }
  const std::string& label() const override { return label_; }
  void set_label(std::string label) override { label_ = std::move(label); }
  asio::any_io_executor get_executor() override { return executor_; }

  uint64_t incarnation() const { return incarnation_; }

 private:
  Network& net_;
  std::string node_;  // the node this end is on
  std::string peer_;  // the endpoint that called
  std::string label_;
  uint64_t incarnation_;
  uint64_t channel_id_;
  asio::any_io_executor executor_;
  bool open_ = true;
};

class SimChannel final : public wire::Channel {
 public:
  SimChannel(Network& net, uint64_t id, std::string from, std::string to,
             std::string label, asio::any_io_executor executor)
      : net_(net),
        id_(id),
        from_(std::move(from)),
        to_(std::move(to)),
        label_(std::move(label)),
        executor_(std::move(executor)) {
    net_.RegisterChannel(this);
  }
  ~SimChannel() override {
    net_.UnregisterChannel(this);
    FailAll(Status(Code::kUnavailable, "channel closed"));
  }

  wire::Awaitable<Result<wire::Body>> Call(wire::Body body,
                                           wire::Deadline deadline) override;
  wire::Awaitable<Status> EnsureConnected(wire::Deadline deadline) override;
  bool connected() const override { return server_ != nullptr; }
  std::optional<wire::Clock::time_point> last_heard() const override {
    return last_heard_;
  }
  const std::string& address() const override { return to_; }
  const Status& last_error() const override { return last_error_; }
  void Close() override {
    server_.reset();
    FailAll(Status(Code::kUnavailable, "channel closed"));
  }

  uint64_t id() const { return id_; }
  const std::string& from() const { return from_; }
  const std::string& to() const { return to_; }

  // A reply frame arrived from the server end of incarnation `incarnation`.
  void OnReply(uint64_t incarnation, wire::Message msg);
  // The target was killed: the connection is reset.
  void Reset(uint64_t incarnation);

 private:
  struct PendingCall {
    PendingCall(Clock& clock, asio::any_io_executor ex) : timer(clock, ex) {}
    Timer timer;
    std::optional<Result<wire::Body>> result;
  };
  void FailAll(const Status& why) {
    for (auto& [id, call] : pending_) {
      if (!call->result) {
        call->result.emplace(why);
        call->timer.cancel();
      }
    }
  }

  Network& net_;
  uint64_t id_;
  std::string from_, to_, label_;
  asio::any_io_executor executor_;
  std::shared_ptr<ServerEnd> server_;  // set while connected
  std::map<uint64_t, PendingCall*> pending_;
  uint64_t next_call_ = 1;
  std::optional<wire::Clock::time_point> last_heard_;
  Status last_error_;
};

// ---------------------------------------------------------------------------
// Network

Network::Network(VirtualClock& clock, std::mt19937_64& rng, Trace& trace,
                 NetworkOptions options)
    : clock_(clock), rng_(rng), trace_(trace), options_(options) {}

Network::~Network() = default;

void Network::Attach(const std::string& name, asio::any_io_executor executor,
                     Inbox inbox) {
  Node& n = nodes_[name];
  n.executor = std::move(executor);
  n.inbox = std::move(inbox);
  ++n.incarnation;
  n.attached = true;
  n.paused = false;
  n.held.clear();
  trace_.Add(Us(clock_.Now(), Clock::TimePoint{}), "attach " + name);
}

void Network::Detach(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end() || !it->second.attached) return;
  Node& n = it->second;
  n.attached = false;
  n.paused = false;
  n.held.clear();
  n.inbox = nullptr;
  const uint64_t dead = n.incarnation;
  trace_.Add(Us(clock_.Now(), Clock::TimePoint{}), "detach " + name);
  // Every connection to it is reset; the reset reaches each caller after
  // one latency, unless the link back is cut (then its calls time out, and
  // its next frame after the heal is answered by a reset: SimChannel::Call).
  for (SimChannel* c : channels_) {
    if (c->to() == name && c->connected())
      ResetLater(c->id(), c->from(), name, dead);
  }
}

void Network::ResetLater(uint64_t id, const std::string& from,
                         const std::string& to, uint64_t dead) {
  if (IsCut(to, from)) return;
  clock_.Schedule(clock_.Now() + Latency(), [this, id, dead] {
    for (SimChannel* ch : channels_) {
      if (ch->id() == id) ch->Reset(dead);
    }
  });
}

bool Network::attached(const std::string& name) const {
  auto it = nodes_.find(name);
  return it != nodes_.end() && it->second.attached;
}

void Network::Pause(const std::string& name) {
  auto it = nodes_.find(name);
  if (it != nodes_.end()) it->second.paused = true;
}

void Network::Resume(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  it->second.paused = false;
  auto held = std::move(it->second.held);
  it->second.held.clear();
  for (auto& fn : held) fn();
}

void Network::Cut(const std::string& from, const std::string& to) {
  cuts_.emplace(from, to);
}

void Network::Heal() { cuts_.clear(); }

bool Network::IsCut(const std::string& from, const std::string& to) const {
  return cuts_.count({from, to}) != 0;
}

std::chrono::microseconds Network::Latency() {
  std::uniform_int_distribution<int64_t> d(options_.min_latency.count(),
                                           options_.max_latency.count());
  return std::chrono::microseconds(d(rng_));
}

void Network::RegisterChannel(SimChannel* c) { channels_.insert(c); }
void Network::UnregisterChannel(SimChannel* c) { channels_.erase(c); }

std::unique_ptr<wire::Channel> Network::NewChannel(
    std::string from, std::string to, std::string label,
    asio::any_io_executor executor) {
  const uint64_t id = next_channel_id_++;
  return std::make_unique<SimChannel>(*this, id, std::move(from), std::move(to),
                                      std::move(label), std::move(executor));
}

bool Network::Transmit(const std::string& from, const std::string& to,
                       uint64_t channel, const wire::Message& msg, bool request,
                       std::function<void(wire::Message)> deliver) {
  // A killed node sends nothing more (its code is being unwound).
  if (auto it = nodes_.find(from); it != nodes_.end() && !it->second.attached) {
    return false;
  }
  ++frames_sent_;
  uint64_t hash = 0;
  auto decoded = ThroughCodec(msg, options_.frame_cap, &hash);
  SHOAL_ASSERT(decoded.ok(), "a frame the node built does not decode");
  if (observer_) observer_(from, to, channel, decoded.value(), request);
  char line[160];
  std::snprintf(line, sizeof line, "%s %s->%s id=%llu type=%zu frame=%016llx",
                request ? "req" : "rep", from.c_str(), to.c_str(),
                static_cast<unsigned long long>(msg.id), msg.body.index(),
                static_cast<unsigned long long>(hash));
  const int64_t now_us = Us(clock_.Now(), Clock::TimePoint{});
  std::uniform_real_distribution<double> coin(0, 1);
  if (IsCut(from, to) || coin(rng_) < options_.drop_rate) {
    ++frames_lost_;
    trace_.Add(now_us, std::string("lost ") + line);
    return false;
  }
  trace_.Add(now_us, std::string("send ") + line);
  // A duplicate stands for a request a node sends again (a replicate or a
  // hint retried). A client's put, and a put a node forwards for a client,
  // travel once, as on a TCP connection: sent twice, a put is a second
  // write, which the client's history would have to record as one.
  const bool resendable =
      request && nodes_.count(from) > 0 &&
      !std::holds_alternative<wire::CoordinatePutRequest>(msg.body);
  const int copies = resendable && coin(rng_) < options_.duplicate_rate ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    auto arrive = [this, deliver, m = decoded.value(), to,
                   tag = std::string(line)]() mutable {
      trace_.Add(Us(clock_.Now(), Clock::TimePoint{}), "deliver " + tag);
      deliver(std::move(m));
    };
    clock_.Schedule(clock_.Now() + Latency(), std::move(arrive));
  }
  return true;
}

// ---------------------------------------------------------------------------
// ServerEnd

void ServerEnd::Send(const wire::Message& msg) {
  if (!open_) return;
  auto it = net_.nodes_.find(node_);
  // A killed node sends nothing more.
  if (it == net_.nodes_.end() || !it->second.attached ||
      it->second.incarnation != incarnation_) {
    return;
  }
  const uint64_t channel = channel_id_;
  const uint64_t incarnation = incarnation_;
  Network& net = net_;
  net_.Transmit(node_, peer_, channel_id_, msg, /*request=*/false,
                [&net, channel, incarnation](wire::Message m) {
                  for (SimChannel* c : net.channels_) {
                    if (c->id() == channel) {
                      c->OnReply(incarnation, std::move(m));
                      return;
                    }
                  }
                });
}

// ---------------------------------------------------------------------------
// SimChannel

wire::Awaitable<Status> SimChannel::EnsureConnected(wire::Deadline deadline) {
  if (server_) co_return Status::Ok();
  // One round trip to learn whether the node is there; a cut link leaves
  // the connect hanging until the deadline.
  Clock& clock = net_.clock_;
  Timer wait(clock, executor_);
  const bool reachable = !net_.IsCut(from_, to_) && !net_.IsCut(to_, from_);
  wait.expires_at(reachable
                      ? std::min(deadline, clock.Now() + 2 * net_.Latency())
                      : deadline);
  co_await wait.async_wait(kAsTuple);
  auto it = net_.nodes_.find(to_);
  if (!reachable || clock.Now() >= deadline) {
    last_error_ =
        Status(Code::kUnavailable, "cannot connect to " + to_ + ": timed out");
    co_return last_error_;
  }
  if (it == net_.nodes_.end() || !it->second.attached) {
    last_error_ = Status(Code::kUnavailable,
                         "cannot connect to " + to_ + ": connection refused");
    co_return last_error_;
  }
  server_ = std::make_shared<ServerEnd>(net_, to_, from_, label_,
                                        it->second.incarnation, id_,
                                        it->second.executor);
  last_error_ = Status::Ok();
  co_return Status::Ok();
}

wire::Awaitable<Result<wire::Body>> SimChannel::Call(wire::Body body,
                                                     wire::Deadline deadline) {
  if (!server_) {
    Status st = co_await EnsureConnected(deadline);
    if (!st.ok()) co_return st;
  }
  const uint64_t call = next_call_++;
  PendingCall pending(net_.clock_, executor_);
  pending.timer.expires_at(deadline);
  pending_.emplace(call, &pending);
  // Erased however this frame ends (a cancelled caller throws at its next
  // co_await), as wire::RpcChannel does.
  struct Unregister {
    decltype(pending_)& pending;
    uint64_t call;
    ~Unregister() { pending.erase(call); }
  } unregister{pending_, call};
  const wire::Message msg{call, std::move(body)};
  std::weak_ptr<ServerEnd> server = server_;
  Network& net = net_;
  const std::string from = from_, to = to_;
  const uint64_t id = id_;
  net_.Transmit(from_, to_, id_, msg, /*request=*/true,
                [&net, server, from, to, id](wire::Message m) {
                  auto end = server.lock();
                  auto it = net.nodes_.find(to);
                  if (!end || it == net.nodes_.end() || !it->second.attached ||
                      it->second.incarnation != end->incarnation()) {
                    // The process it was sent to is gone: its host answers
                    // with a reset, as TCP does for a connection it does
                    // not know (the reset at the kill may have been lost
                    // on a cut link).
                    if (end) net.ResetLater(id, from, to, end->incarnation());
                    return;
                  }
                  Network::Node& node = it->second;
                  auto hand_in = [inbox = node.inbox, end,
                                  m = std::move(m)]() mutable {
                    inbox(end, std::move(m));
                  };
                  auto post = [ex = node.executor,
                               hand_in = std::move(hand_in)]() mutable {
                    asio::post(ex, std::move(hand_in));
                  };
                  if (node.paused) {
                    node.held.push_back(std::move(post));
                  } else {
                    post();
                  }
                });
  co_await pending.timer.async_wait(kAsTuple);
  if (!pending.result) {
    co_return Status(Code::kTimeout, "no reply from " + to_ + " in time");
  }
  co_return std::move(*pending.result);
}

void SimChannel::OnReply(uint64_t incarnation, wire::Message msg) {
  if (!server_ || server_->incarnation() != incarnation) return;
  auto it = pending_.find(msg.id);
  last_heard_ = net_.clock_.Now();
  if (it == pending_.end() || it->second->result) return;
  PendingCall* call = it->second;
  // Completed on the caller's executor: the timer's wait is posted there.
  if (auto* err = std::get_if<wire::ErrorReply>(&msg.body)) {
    call->result.emplace(err->status);
  } else {
    call->result.emplace(std::move(msg.body));
  }
  call->timer.cancel();
}

void SimChannel::Reset(uint64_t incarnation) {
  if (!server_ || server_->incarnation() != incarnation) return;
  server_.reset();
  last_error_ = Status(Code::kUnavailable,
                       "connection to " + to_ + " lost: reset by peer");
  FailAll(last_error_);
}

}  // namespace shoal::sim
