#include "node/admission.h"

#include <doctest/doctest.h>

#include <vector>

namespace shoal::node {
namespace {

using Clock = Admission::Clock;

TEST_CASE("admission refuses beyond max_requests and frees places") {
  Admission a(2);
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  auto s1 = a.TryAdmit(t0);
  auto s2 = a.TryAdmit(t0);
  REQUIRE(s1.has_value());
  REQUIRE(s2.has_value());
  CHECK(a.in_flight() == 2);
  CHECK_FALSE(a.TryAdmit(t0).has_value());
  CHECK(a.refused() == 1);
  s1.reset();
  CHECK(a.in_flight() == 1);
  CHECK(a.TryAdmit(t0).has_value());  // destroyed at once: back to 1
  CHECK(a.in_flight() == 1);
}

TEST_CASE(
    "busy while more than half the places are taken or just after a "
    "refusal") {
  Admission a(4);
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  std::vector<Admission::Slot> slots;
  CHECK_FALSE(a.Busy(t0));
  for (int i = 0; i < 2; ++i) slots.push_back(*a.TryAdmit(t0));
  CHECK_FALSE(a.Busy(t0));  // exactly half
  slots.push_back(*a.TryAdmit(t0));
  CHECK(a.Busy(t0));
  slots.push_back(*a.TryAdmit(t0));
  CHECK_FALSE(a.TryAdmit(t0).has_value());  // refused at t0
  slots.clear();
  CHECK(a.Busy(t0 + std::chrono::milliseconds(999)));
  CHECK_FALSE(a.Busy(t0 + std::chrono::seconds(1)));
}

TEST_CASE("no bound with max_requests 0") {
  Admission a(0);
  std::vector<Admission::Slot> slots;
  for (int i = 0; i < 10000; ++i) slots.push_back(*a.TryAdmit(Clock::now()));
  CHECK(a.in_flight() == 10000);
  CHECK_FALSE(a.Busy(Clock::now()));
}

}  // namespace
}  // namespace shoal::node
