// Tests of the simulator itself: a run is a pure function of its seed (the
// same trace twice).
#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include "tests/sim/world.h"

namespace shoal::sim {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("one seed, one trace: two runs of a seed are the same") {
  for (uint64_t seed : {3u, 17u}) {
    CAPTURE(seed);
    SimOptions options = OptionsForSeed(seed);
    const SimOutcome a = RunSimulation(options);
    const SimOutcome b = RunSimulation(options);
    INFO(a.Summary(options));
    CHECK(a.trace_events > 1000);
    CHECK(a.trace_hash == b.trace_hash);
    CHECK(a.trace_events == b.trace_events);
    CHECK(a.ops == b.ops);
    CHECK(a.valid);
  }
}

TEST_CASE("different seeds make different runs") {
  const SimOutcome a = RunSimulation(OptionsForSeed(5));
  const SimOutcome b = RunSimulation(OptionsForSeed(6));
  CHECK(a.trace_hash != b.trace_hash);
}

}  // namespace
}  // namespace shoal::sim
