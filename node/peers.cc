#include "node/peers.h"

#include <spdlog/spdlog.h>

namespace shoal::node {

namespace asio = boost::asio;

Peers::Peers(asio::any_io_executor executor, shoal::Clock& clock,
             const ring::Ring& ring, ring::NodeIndex self,
             const std::vector<Member>& members, PeerOptions options,
             ChannelFactory factory)
    : clock_(clock),
      self_(self),
      options_(options),
      tick_(clock, executor),
      tasks_(executor) {
  const auto& names = ring.members();
  addresses_.resize(names.size());
  for (ring::NodeIndex i = 0; i < names.size(); ++i) {
    for (const Member& m : members) {
      if (m.name == names[i]) addresses_[i] = m.address;
    }
    links_.push_back(Link{nullptr, FailureDetector(options.down_after)});
    if (i == self || ring.retired(i)) continue;  // no link to a removed one
    if (factory) {
      links_[i].channel = factory(i, addresses_[i]);
      SHOAL_REQUIRE(links_[i].channel != nullptr, "no channel from factory");
      continue;
    }
    wire::RpcChannel::Options opts;
    opts.address = addresses_[i];
    opts.hello_name = names[self];
    opts.expect_name = names[i];
    opts.frame_cap = options.frame_cap;
    opts.frame_timeout = options.frame_timeout;
    opts.tasks = &tasks_;  // the link's loops end before Shutdown() returns
    opts.connect_timeout = options.down_after;
    opts.retry_backoff = std::chrono::milliseconds(0);  // the loop paces
    if (options.fate) {
      opts.outgoing = [fate = options.fate, i] { return fate(i); };
    }
    links_[i].channel =
        std::make_unique<wire::RpcChannel>(executor, std::move(opts));
  }
}

wire::Channel& Peers::Channel(ring::NodeIndex node) {
  SHOAL_REQUIRE(node < links_.size() && links_[node].channel,
                "no channel to self");
  return *links_[node].channel;
}

bool Peers::IsUp(ring::NodeIndex node) const {
  if (node == self_) return true;
  return links_[node].channel != nullptr && links_[node].detector.LooksUp();
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
      if (!link.channel) continue;
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
