// AaeProbe: anti-entropy's observer (Observer, antientropy.h), exported as
// Prometheus metrics (a push probe, metrics/probe.h).
//
// Threads: called on the io_context thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>

#include "antientropy/antientropy.h"

namespace shoal::antientropy {

// Anti-entropy: exchanges by result, keys repaired, bytes exchanged, and how
// long each repaired difference had existed.
class AaeProbe : public antientropy::Observer {
 public:
  // `registry` must outlive the probe.
  explicit AaeProbe(prometheus::Registry& registry);
  void Exchanged(bool ok) override;
  void KeysRepaired(uint64_t keys) override;
  void BytesExchanged(uint64_t bytes) override;
  void DivergenceAge(double seconds) override;

 private:
  prometheus::Counter* exchanges_ok_ = nullptr;
  prometheus::Counter* exchanges_error_ = nullptr;
  prometheus::Counter* repaired_ = nullptr;
  prometheus::Counter* bytes_ = nullptr;
  prometheus::Histogram* divergence_age_ = nullptr;
};

}  // namespace shoal::antientropy
