#include "tests/sim/trace.h"

namespace shoal::sim {

Trace::Trace(bool keep_lines)
    : state_(XXH3_createState()), keep_lines_(keep_lines) {
  XXH3_64bits_reset(state_);
}

Trace::~Trace() { XXH3_freeState(state_); }

void Trace::Add(int64_t time_us, std::string_view line) {
  ++events_;
  XXH3_64bits_update(state_, &time_us, sizeof time_us);
  XXH3_64bits_update(state_, line.data(), line.size());
  const char sep = '\n';
  XXH3_64bits_update(state_, &sep, 1);
  if (keep_lines_) {
    lines_.push_back(std::to_string(time_us) + " " + std::string(line));
  }
}

uint64_t Trace::hash() const { return XXH3_64bits_digest(state_); }

}  // namespace shoal::sim
