// ByteSink: where a stream of bytes goes, chunk by chunk. The lowest-level seam shared by storage (object
// reads), http (response bodies) and the codec (its stages' output), so none of them includes another.
#pragma once

#include "core/common/status.h"

#include <cstddef>
#include <cstdint>
#include <functional>

namespace walvault {

// Receives the bytes of a stream in order; a non-ok Status stops the transfer and is returned.
using ByteSink = std::function<Status(const uint8_t* data, size_t len)>;

}  // namespace walvault
