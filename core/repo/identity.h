// The repository identity object: which database system the repository belongs to. Written once, on
// first use, and checked before anything else is written, so two clusters never mix their WAL.
#pragma once

#include "core/storage/storage.h"

#include <cstdint>
#include <string>

namespace walvault {

constexpr int k_repository_format = 1;

struct RepoIdentity {
    int format = k_repository_format;
    uint64_t system_identifier = 0;  // pg_control's "Database system identifier"
    int pg_major = 0;                // 15, 16, ...
    uint64_t wal_segment_size = 0;   // bytes
    std::string created;             // ISO 8601 UTC, informational
};

std::string identity_to_json(const RepoIdentity& id);
Status identity_from_json(const std::string& text, RepoIdentity& out);

// Reads the identity; writes ours if there is none yet (create-only, so two first writers agree on one).
// Code::conflict with a message naming both systems if the repository belongs to another database system
// or another WAL segment size.
Status ensure_identity(Storage& storage, const RepoIdentity& ours, RepoIdentity* found = nullptr);

// Reads the identity without writing; Code::not_found if the repository has none.
Status read_identity(Storage& storage, RepoIdentity& out);

}  // namespace walvault
