#include "node/peers.h"

namespace shoal::node {

namespace asio = boost::asio;

Peers::Peers(asio::any_io_executor executor, const ring::Ring& ring,
             ring::NodeIndex self, const std::vector<Member>& members,
             uint64_t frame_cap)
    : self_(self), tick_(executor) {
  const auto& names = ring.members();
  addresses_.resize(names.size());
  links_.resize(names.size());
  for (ring::NodeIndex i = 0; i < names.size(); ++i) {
    for (const Member& m : members) {
      if (m.name == names[i]) addresses_[i] = m.address;
    }
    if (i == self) continue;
    wire::RpcChannel::Options opts;
    opts.address = addresses_[i];
    opts.hello_name = names[self];
    opts.expect_name = names[i];
    opts.frame_cap = frame_cap;
    links_[i] = std::make_unique<wire::RpcChannel>(executor, std::move(opts));
  }
}

wire::RpcChannel& Peers::Channel(ring::NodeIndex node) {
  SHOAL_REQUIRE(node < links_.size() && links_[node], "no channel to self");
  return *links_[node];
}

bool Peers::IsUp(ring::NodeIndex node) const {
  if (node == self_) return true;
  const auto& ch = *links_[node];
  return ch.connected() || ch.last_error().ok();
}

std::optional<wire::Clock::time_point> Peers::LastHeard(
    ring::NodeIndex node) const {
  if (node == self_) return wire::Clock::now();
  return links_[node]->last_heard();
}

const std::string& Peers::Address(ring::NodeIndex node) const {
  return addresses_[node];
}

wire::Awaitable<void> Peers::MaintainLoop(std::chrono::milliseconds interval) {
  while (!stopped_) {
    for (auto& link : links_) {
      if (!link || link->connected()) continue;
      // Sequential and bounded: a peer that does not answer costs at most
      // one interval of this loop, never a request's time.
      co_await link->EnsureConnected(wire::Clock::now() + interval);
      if (stopped_) co_return;
    }
    tick_.expires_after(interval);
    co_await tick_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void Peers::Stop() {
  stopped_ = true;
  tick_.cancel();
  for (auto& link : links_) {
    if (link) link->Close();
  }
}

}  // namespace shoal::node
