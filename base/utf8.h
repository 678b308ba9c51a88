// UTF-8 validation, for deciding whether bytes can be shown as text (keys
// and values in the CLI's and `shoald dump`'s output) or need base64.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

namespace shoal {

// True when `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF). NUL bytes are valid.
bool IsValidUtf8(std::string_view bytes);

}  // namespace shoal
