// The walvault version, shared by the tool and (through the repository format) what it writes.
#pragma once

namespace walvault {

constexpr const char* k_version = "0.1.0";

}  // namespace walvault
