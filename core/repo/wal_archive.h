// Archiving one WAL file into a repository: the rules of DESIGN.md in one function. The module calls it
// from worker threads; it never touches PostgreSQL.
#pragma once

#include "core/codec/codec.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <string>

namespace walvault {

struct ArchiveReport {
    uint64_t bytes_in = 0;          // original bytes read
    uint64_t bytes_out = 0;         // stored bytes written (0 when already archived)
    bool already_archived = false;  // an identical copy was already there
};

// Archives the file at path under WAL file name `name`. Ok only once the object is durable and verified
// (or an identical object already was, which is then synced again). Code::conflict if an object with that
// name and different (or damaged) content exists; it is never overwritten.
Status archive_wal_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const std::string& path, ArchiveReport& report);

}  // namespace walvault
