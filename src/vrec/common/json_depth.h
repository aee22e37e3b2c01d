// A guard run before handing untrusted text to a JSON parser: nesting depth bounded in one linear
// pass with constant stack, so that no parser, destructor or dump() ever recurses deeply on
// attacker-controlled input (a body of a few hundred thousand '[' used to crash `vrec serve`).
#pragma once

#include <cstddef>
#include <string_view>

#include "vrec/common/status.h"

namespace vrec {

// Nesting deeper than this is never needed by vrec's request bodies (an event batch is 3 deep).
inline constexpr int kMaxJsonDepth = 32;

// OK when no array or object in `text` is nested deeper than `max_depth` (the top-level value is
// depth 1), counting only brackets outside strings. It does not validate the JSON otherwise: a
// parser must still be run. InvalidArgument naming the byte offset and the limit otherwise.
// Thread-safe; O(text.size()) time, O(1) memory.
Status CheckJsonDepth(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace vrec
