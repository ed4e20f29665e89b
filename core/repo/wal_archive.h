// Archiving one WAL file into a repository: the rules of DESIGN.md in one function. The module calls it
// from worker threads; it never touches PostgreSQL.
#pragma once

#include "core/codec/age.h"
#include "core/codec/codec.h"
#include "core/storage/storage.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace walvault {

struct ArchiveReport {
    uint64_t bytes_in = 0;          // original bytes read
    uint64_t bytes_out = 0;         // stored bytes written (0 when already archived)
    bool already_archived = false;  // an identical copy was already there
};

// How long archiving waits for another process writing the same object (Storage::create's Code::busy): the
// archive module and walvault receive both store a segment as it completes.
constexpr std::chrono::milliseconds k_archive_busy_wait{10000};

// Archives the file at path under WAL file name `name`. Ok only once the object is durable and verified
// (or an identical object already was, which is then synced again). Code::conflict if an object with that
// name and different (or damaged) content exists; it is never overwritten. While another process writes the
// same object, archiving waits up to busy_wait, then compares with what that process wrote (Code::busy if it
// is still writing).
//
// With recipients (encryption_recipients) the object is an age file for them, and its header's note (AgeNote)
// records the file's length and XXH3-128, read from the file first: a process without an identity, such as
// the archiver, then tells an identical copy from a different one by that note.
Status archive_wal_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const std::string& path, ArchiveReport& report, const std::vector<AgeRecipient>& recipients = {},
    std::chrono::milliseconds busy_wait = k_archive_busy_wait);

// The same for a WAL file held in memory (walvault receive: a segment assembled from the replication stream).
Status archive_wal_bytes(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const uint8_t* data, size_t len, ArchiveReport& report, const std::vector<AgeRecipient>& recipients = {},
    std::chrono::milliseconds busy_wait = k_archive_busy_wait);

// Writes bytes in memory as a new object under key with `name` in its trailer: create-only, Code::already_exists
// (nothing written) if the key is taken. Ok once the object is durable.
Status write_object_bytes(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& name, const uint8_t* data, size_t len, EncodeResult& result);

}  // namespace walvault
