// RFC 4648 base64 (standard alphabet, '=' padding), for client contexts and
// for non-UTF-8 keys and values in the CLI's and `shoald dump`'s output.
//
// Hand-written because none of the libraries we build on exposes a public
// base64: Boost.Beast keeps its encoder in a `detail` namespace, Cap'n
// Proto's kj/encoding.h is not part of the libcapnp-dev API we link, and
// nlohmann-json has none. It is small enough to own and test here.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace shoal {

// Encodes bytes as padded base64 ("" for empty input).
std::string Base64Encode(std::string_view bytes);

// Decodes canonical padded base64: length a multiple of 4, only alphabet
// characters, at most two '=' and only at the end, unused trailing bits zero
// (so every byte string has exactly one accepted encoding). No whitespace.
// "" decodes to "". Errors: kInvalidArgument naming the first problem and
// its position.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace shoal
