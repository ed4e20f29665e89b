// Times as the repository records them: ISO 8601 UTC with whole seconds, "2026-11-23T10:15:00Z".
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace walvault {

std::string format_utc_time(int64_t unix_seconds);
// Parses what format_utc_time writes, also with fractional seconds (dropped); seconds since the epoch.
Status parse_utc_time(std::string_view text, int64_t& unix_seconds);

}  // namespace walvault
