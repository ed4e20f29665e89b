// Repository layout: object keys as pure functions of names, so fetching a WAL file is one GET, no LIST.
#pragma once

#include "core/wal/wal_name.h"

#include <string>

namespace walvault {

constexpr const char* k_identity_key = "identity.json";
constexpr const char* k_wal_prefix = "wal/";

// wal/00000002.history.zst
// wal/0000000100000000/000000010000000000000003.zst            (segment)
// wal/0000000100000000/000000010000000000000003.partial.zst    (partial)
// wal/0000000100000000/000000010000000000000003.00000028.backup.zst
// The directory is timeline + xlogid: 256 segments of 16 MiB, never more than 4096 of 1 MiB.
std::string wal_object_key(const WalName& name);

}  // namespace walvault
