// The simulated network (tests/sim/README.md): every frame between
// simulated nodes and clients goes through here, encoded and decoded by
// the real codec, and is delivered after a seeded random latency, or
// dropped, duplicated or held back, as the run's faults say.
//
// Endpoints are names: a node ("n1") is attached with the executor its
// code runs on and an inbox for the requests it receives; clients are
// named too ("c3") but only call. A Channel from one endpoint to a node
// behaves like wire::RpcChannel over TCP:
//   - the frames of a call and of its reply each take their own latency
//     (so replies to different calls can overtake each other);
//   - a frame on a cut link, or one the drop rate picks, is lost: the call
//     times out at its deadline;
//   - a node that is detached (killed) resets its connections: calls in
//     flight to it fail with kUnavailable, and so do connection attempts,
//     after one round trip;
//   - a paused node receives nothing until it resumes (its frames wait).
// A node comes back (attached again) as a new incarnation: frames sent to
// the old one are dropped.
//
// Threads: the simulator's one thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/virtual_clock.h"
#include "tests/sim/trace.h"
#include "wire/transport.h"

namespace shoal::sim {

class SimChannel;
class ServerEnd;

struct NetworkOptions {
  std::chrono::microseconds min_latency{100};
  std::chrono::microseconds max_latency{2000};  // uniform in [min, max]
  double drop_rate = 0;                         // of every frame, 0..1
  double duplicate_rate = 0;  // of request frames between nodes, 0..1
  uint64_t frame_cap = 0;     // for decoding
};

class Network {
 public:
  // A request frame for a node: the connection to reply on and the message.
  using Inbox =
      std::function<void(std::shared_ptr<wire::Connection>, wire::Message)>;

  Network(VirtualClock& clock, std::mt19937_64& rng, Trace& trace,
          NetworkOptions options);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // The node `name` starts receiving (a new incarnation).
  void Attach(const std::string& name, boost::asio::any_io_executor executor,
              Inbox inbox);
  // The node stops: its connections are reset, frames to it are lost.
  void Detach(const std::string& name);
  bool attached(const std::string& name) const;
  // A paused node's incoming frames wait until Resume.
  void Pause(const std::string& name);
  void Resume(const std::string& name);

  // Frames from `from` to `to` are lost until Heal (one direction).
  void Cut(const std::string& from, const std::string& to);
  void Heal();
  bool IsCut(const std::string& from, const std::string& to) const;
  void set_drop_rate(double rate) { options_.drop_rate = rate; }
  void set_duplicate_rate(double rate) { options_.duplicate_rate = rate; }

  // Told about every frame as it is sent (before any loss), decoded, with
  // the channel it belongs to (request and reply share it): the
  // simulator's invariant checks look at what the nodes say.
  using Observer = std::function<void(const std::string& from,
                                      const std::string& to, uint64_t channel,
                                      const wire::Message& msg, bool request)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // A channel from endpoint `from` to node `to`, whose completions run on
  // `executor` (the caller's io_context). `label` is what the receiving
  // node sees as the connection's label ("" for a client, the member name
  // for a peer link, as its hello would say).
  std::unique_ptr<wire::Channel> NewChannel(
      std::string from, std::string to, std::string label,
      boost::asio::any_io_executor executor);

  uint64_t frames_sent() const { return frames_sent_; }
  uint64_t frames_lost() const { return frames_lost_; }

 private:
  friend class SimChannel;
  friend class ServerEnd;
  struct Node {
    boost::asio::any_io_executor executor;
    Inbox inbox;
    uint64_t incarnation = 0;
    bool attached = false;
    bool paused = false;
    std::vector<std::function<void()>> held;  // deliveries while paused
  };

  // Sends one frame from `from` to `to`; `deliver` runs (on the receiving
  // side's executor, posted by the caller of Deliver) when it arrives.
  // Returns false when the frame is lost at once (cut, dropped).
  bool Transmit(const std::string& from, const std::string& to,
                uint64_t channel, const wire::Message& msg, bool request,
                std::function<void(wire::Message)> deliver);
  std::chrono::microseconds Latency();
  // A reset (a TCP RST from `to`'s host) reaches channel `id`, connected to
  // `to`'s incarnation `dead`, after one latency; none while the link back
  // from `to` to the channel's caller `from` is cut.
  void ResetLater(uint64_t id, const std::string& from, const std::string& to,
                  uint64_t dead);
  void RegisterChannel(SimChannel* c);
  void UnregisterChannel(SimChannel* c);

  VirtualClock& clock_;
  std::mt19937_64& rng_;
  Trace& trace_;
  NetworkOptions options_;
  std::map<std::string, Node> nodes_;
  std::set<std::pair<std::string, std::string>> cuts_;
  std::set<SimChannel*> channels_;
  Observer observer_;
  uint64_t next_channel_id_ = 1;
  uint64_t frames_sent_ = 0;
  uint64_t frames_lost_ = 0;
};

}  // namespace shoal::sim
