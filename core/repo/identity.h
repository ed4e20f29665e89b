// The repository identity object: which database system the repository belongs to. Written once, on
// first use, and checked before anything else is written, so two clusters never mix their WAL.
#pragma once

#include "core/storage/storage.h"

#include <cstdint>
#include <string>
#include <vector>

namespace walvault {

constexpr int k_repository_format = 1;

struct RepoIdentity {
    int format = k_repository_format;
    uint64_t system_identifier = 0;  // pg_control's "Database system identifier"
    int pg_major = 0;                // 15, 16, ...
    uint64_t wal_segment_size = 0;   // bytes
    std::string created;             // ISO 8601 UTC, informational
    // Client-side encryption of the objects: "" (none; the JSON has no such key) or "age", with the
    // fingerprints (age_recipient_fingerprint, sorted) of the recipients every object is encrypted to.
    std::string encryption;
    std::vector<std::string> recipients;
};

// The encryption fields of an identity for a list of recipients (none: unencrypted).
void set_identity_encryption(RepoIdentity& id, const std::vector<std::string>& fingerprints);

std::string identity_to_json(const RepoIdentity& id);
Status identity_from_json(const std::string& text, RepoIdentity& out);

// Reads the identity; writes ours if there is none yet (create-only, so two first writers agree on one).
// Code::conflict with a message naming both systems if the repository belongs to another database system
// or another WAL segment size, or if its encryption (on or off, and the recipients) is not ours.
Status ensure_identity(Storage& storage, const RepoIdentity& ours, RepoIdentity* found = nullptr);

// Code::conflict, before anything is written, when a writer's encryption (ours: encryption_recipients) is not
// the repository's (theirs): on where it is off or off where it is on, or other recipients.
Status check_identity_encryption(const Storage& storage, const RepoIdentity& theirs, const RepoIdentity& ours);

// Replaces the identity with id, atomically (Storage::replace): only walvault rekey does, to record new
// recipients.
Status replace_identity(Storage& storage, const RepoIdentity& id);

// Reads the identity without writing; Code::not_found if the repository has none.
Status read_identity(Storage& storage, RepoIdentity& out);

}  // namespace walvault
