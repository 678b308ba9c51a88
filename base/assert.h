// SHOAL_ASSERT: a broken invariant is our bug -> abort with a message.
// SHOAL_REQUIRE: a caller broke a documented precondition -> abort too, but
// the message blames the caller. Input from the network or from disk is never
// checked with either: it is validated and turned into a Status.
#pragma once

namespace shoal::detail {
[[noreturn]] void AssertFail(const char* kind, const char* expr,
                             const char* file, int line, const char* msg);
}  // namespace shoal::detail

#define SHOAL_ASSERT(cond, msg)                                           \
  do {                                                                    \
    if (!(cond))                                                          \
      ::shoal::detail::AssertFail("assertion", #cond, __FILE__, __LINE__, \
                                  (msg));                                 \
  } while (0)

#define SHOAL_REQUIRE(cond, msg)                                             \
  do {                                                                       \
    if (!(cond))                                                             \
      ::shoal::detail::AssertFail("precondition", #cond, __FILE__, __LINE__, \
                                  (msg));                                    \
  } while (0)
