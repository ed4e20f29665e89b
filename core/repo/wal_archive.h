// Archiving one WAL file into a repository: the rules of DESIGN.md in one function. The module calls it
// from worker threads; it never touches PostgreSQL.
#pragma once

#include "core/codec/age.h"
#include "core/codec/codec.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <string>
#include <vector>

namespace walvault {

struct ArchiveReport {
    uint64_t bytes_in = 0;          // original bytes read
    uint64_t bytes_out = 0;         // stored bytes written (0 when already archived)
    bool already_archived = false;  // an identical copy was already there
};

// Archives the file at path under WAL file name `name`. Ok only once the object is durable and verified
// (or an identical object already was, which is then synced again). Code::conflict if an object with that
// name and different (or damaged) content exists; it is never overwritten.
//
// With recipients (encryption_recipients) the object is an age file for them, and its header's note (AgeNote)
// records the file's length and XXH3-128, read from the file first: a process without an identity, such as
// the archiver, then tells an identical copy from a different one by that note.
Status archive_wal_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const std::string& path, ArchiveReport& report, const std::vector<AgeRecipient>& recipients = {});

// The same for a WAL file held in memory (walvault receive: a segment assembled from the replication stream).
Status archive_wal_bytes(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const uint8_t* data, size_t len, ArchiveReport& report, const std::vector<AgeRecipient>& recipients = {});

// Writes bytes in memory as a new object under key with `name` in its trailer: create-only, Code::already_exists
// (nothing written) if the key is taken. Ok once the object is durable.
Status write_object_bytes(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& name, const uint8_t* data, size_t len, EncodeResult& result);

}  // namespace walvault
