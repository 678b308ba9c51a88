#include "node/peers.h"

#include <spdlog/spdlog.h>

namespace shoal::node {

namespace asio = boost::asio;

namespace {

// The channel to a member that left: every call fails at once. Requests
// chosen under the ring before it left may still try it.
class RetiredChannel : public wire::Channel {
 public:
  RetiredChannel(std::string name, std::string address)
      : address_(std::move(address)),
        error_(Code::kUnavailable, "member '" + name + "' left the cluster") {}
  wire::Awaitable<Result<wire::Body>> Call(wire::Body,
                                           wire::Deadline) override {
    co_return error_;
  }
  wire::Awaitable<Status> EnsureConnected(wire::Deadline) override {
    co_return error_;
  }
  bool connected() const override { return false; }
  std::optional<wire::Clock::time_point> last_heard() const override {
    return std::nullopt;
  }
  const std::string& address() const override { return address_; }
  const Status& last_error() const override { return error_; }
  void Close() override {}

 private:
  std::string address_;
  Status error_;
};

}  // namespace

Peers::Peers(asio::any_io_executor executor, shoal::Clock& clock,
             const ring::Ring& ring, ring::NodeIndex self,
             const std::vector<Member>& members, PeerOptions options,
             ChannelFactory factory)
    : executor_(executor),
      clock_(clock),
      self_(self),
      self_name_(ring.members()[self]),
      options_(options),
      factory_(std::move(factory)),
      tick_(clock, executor),
      tasks_(executor) {
  Update(ring, members);
}

void Peers::Update(const ring::Ring& ring, const std::vector<Member>& members) {
  const auto& names = ring.members();
  for (ring::NodeIndex i = links_.size(); i < names.size(); ++i) {
    std::string address;
    for (const Member& m : members) {
      if (m.name == names[i]) address = m.address;
    }
    AddLink(names[i], address, ring.retired(i));
  }
  for (ring::NodeIndex i = 0; i < names.size(); ++i) {
    Link& link = links_[i];
    if (!ring.retired(i) || link.retired || i == self_) continue;
    spdlog::info("peer {} ({}) left the cluster: link closed", names[i],
                 addresses_[i]);
    link.retired = true;
    if (link.channel) {
      link.channel->Close();
      closed_.push_back(std::move(link.channel));
    }
    link.channel = std::make_unique<RetiredChannel>(names[i], addresses_[i]);
    if (options_.observe) options_.observe(i, false);
  }
}

void Peers::AddLink(const std::string& name, const std::string& address,
                    bool retired) {
  const auto i = static_cast<ring::NodeIndex>(links_.size());
  addresses_.push_back(address);
  links_.push_back(Link{nullptr, FailureDetector(options_.down_after)});
  if (i == self_) return;
  if (retired) {  // no link to a member that left
    links_[i].retired = true;
    links_[i].channel = std::make_unique<RetiredChannel>(name, address);
    return;
  }
  if (factory_) {
    links_[i].channel = factory_(i, address);
    SHOAL_REQUIRE(links_[i].channel != nullptr, "no channel from factory");
    return;
  }
  wire::RpcChannel::Options opts;
  opts.address = address;
  opts.hello_name = self_name_;
  opts.expect_name = name;
  opts.frame_cap = options_.frame_cap;
  opts.frame_timeout = options_.frame_timeout;
  opts.tasks = &tasks_;  // the link's loops end before Shutdown() returns
  opts.connect_timeout = options_.down_after;
  opts.retry_backoff = std::chrono::milliseconds(0);  // the loop paces
  if (options_.fate) {
    opts.outgoing = [fate = options_.fate, i] { return fate(i); };
  }
  links_[i].channel =
      std::make_unique<wire::RpcChannel>(executor_, std::move(opts));
}

wire::Channel& Peers::Channel(ring::NodeIndex node) {
  SHOAL_REQUIRE(node < links_.size() && links_[node].channel,
                "no channel to self");
  return *links_[node].channel;
}

bool Peers::IsUp(ring::NodeIndex node) const {
  if (node == self_) return true;
  return !links_[node].retired && links_[node].detector.LooksUp();
}

std::optional<shoal::Clock::TimePoint> Peers::LastHeard(
    ring::NodeIndex node) const {
  if (node == self_) return clock_.Now();
  return links_[node].detector.last_heard();
}

const std::string& Peers::Address(ring::NodeIndex node) const {
  return addresses_[node];
}

void Peers::ReportFailure(ring::NodeIndex node, const Status& status) {
  if (node == self_) return;
  const bool evidence =
      status.code() == Code::kTimeout ||
      (status.code() == Code::kUnavailable && !status.quorum());
  if (!evidence) return;
  Link& link = links_[node];
  const bool was_up = link.detector.LooksUp();
  link.detector.Failed(clock_.Now());
  if (options_.observe) options_.observe(node, false);
  if (was_up) {
    spdlog::info("peer {} marked down: {}", addresses_[node], status.message());
  }
}

wire::Awaitable<void> Peers::Probe(ring::NodeIndex node) {
  Link& link = links_[node];
  const auto deadline = clock_.Now() + options_.down_after;
  Status st;
  if (!link.channel->connected()) {
    st = co_await link.channel->EnsureConnected(deadline);
  } else {
    wire::Body ping = options_.ping ? options_.ping() : wire::Ping{};
    auto reply = co_await link.channel->Call(std::move(ping), deadline);
    st = reply.status();
    if (reply.ok() && options_.pong && !stopped_) {
      if (auto* pong = std::get_if<wire::Pong>(&reply.value())) {
        options_.pong(node, *pong);
      }
    }
  }
  link.probing = false;
  if (stopped_) co_return;
  const bool was_up = link.detector.state() == FailureDetector::State::kUp;
  if (st.ok()) {
    link.detector.Heard(clock_.Now());
    if (!was_up) spdlog::info("peer {} is up", addresses_[node]);
  } else if (link.detector.LooksUp()) {
    // Any failed probe is evidence, including a peer that answers as
    // another node (a wrong member address).
    link.detector.Failed(clock_.Now());
    spdlog::info("peer {} marked down: {}", addresses_[node], st.message());
  }
  if (options_.observe) options_.observe(node, link.detector.LooksUp());
}

void Peers::Start() { tasks_.Spawn(MaintainLoop()); }

wire::Awaitable<void> Peers::MaintainLoop() {
  while (!stopped_) {
    const auto now = clock_.Now();
    for (ring::NodeIndex i = 0; i < links_.size(); ++i) {
      Link& link = links_[i];
      if (!link.channel || link.retired) continue;
      // Replies to requests count as being heard, not only pongs.
      if (auto heard = link.channel->last_heard()) {
        const auto last = link.detector.last_heard();
        if (!last || *heard > *last) link.detector.Heard(*heard);
      }
      link.detector.Tick(now);
      if (options_.observe) options_.observe(i, link.detector.LooksUp());
      if (!link.probing && !tasks_.cancelled()) {
        // One probe in flight per peer: a paused peer costs one pending
        // ping, not one per tick.
        link.probing = true;
        tasks_.Spawn(Probe(i));
      }
    }
    tick_.expires_after(options_.heartbeat);
    co_await tick_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void Peers::Stop() {
  if (stopped_) return;
  stopped_ = true;
  tick_.cancel();
  for (auto& link : links_) {
    if (link.channel) link.channel->Close();
  }
  tasks_.Cancel();
}

asio::awaitable<void> Peers::Shutdown() {
  Stop();
  co_await tasks_.Wait();
}

}  // namespace shoal::node
