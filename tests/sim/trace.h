// The event trace of a simulated run: every frame sent, delivered or lost,
// every client operation and every nemesis step, with its virtual time.
// Two runs of one seed must produce the same trace; the test compares
// their hashes (XXH3-64 over the lines, in order).
//
// Threads: the simulator's one thread.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::sim {

class Trace {
 public:
  // keep_lines: also keep the text (for printing a failing run).
  explicit Trace(bool keep_lines = false);
  ~Trace();
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  // One event at virtual time `time_us` (microseconds since the start).
  void Add(int64_t time_us, std::string_view line);
  uint64_t hash() const;
  uint64_t events() const { return events_; }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  XXH3_state_t* state_;
  bool keep_lines_;
  uint64_t events_ = 0;
  std::vector<std::string> lines_;
};

}  // namespace shoal::sim
