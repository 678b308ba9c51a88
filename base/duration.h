// Durations as people write them: a number and a unit ("500ms", "10s",
// "1.5s", "5m", "1h"). One vocabulary for the CLI's flags and shoald's
// configuration: a duration always carries its unit.
//
// Thread-safety: free functions over values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace shoal {

// "50ms", "2s", "1.5s", "1m", "1h" (a unit is required), >= 0, rounded to
// the millisecond. Errors: kInvalidArgument naming the text and the units
// ("bad duration '5'"; `what` replaces "duration").
Result<std::chrono::milliseconds> ParseDuration(
    std::string_view text, std::string_view what = "duration");
// "+5s", "-200ms", "5s": a signed duration in ms. Errors as ParseDuration.
Result<int64_t> ParseSignedDuration(std::string_view text,
                                    std::string_view what = "duration");
// The shortest exact spelling ParseDuration reads back: "250ms", "10s",
// "5m", "1h", "0s".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace shoal
