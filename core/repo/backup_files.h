// One data-directory file into a backup, and back: the same codec as WAL (sha256 -> zstd -> storage),
// without WAL's rules about size and re-archiving. A live cluster's files change while they are copied;
// WAL replay from the backup's start point repairs that, which is why a backup needs its WAL.
#pragma once

#include "core/codec/codec.h"
#include "core/repo/backup_manifest.h"
#include "core/storage/storage.h"

#include <string>

namespace walvault {

// Stores the file at path under key, reading it to its end as it is now (no size check); fills size,
// sha256 and stored_size of entry. Code::not_found if the file is gone (a dropped relation: leave it out).
Status store_backup_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& path, BackupFile& entry);

// Writes the object under key to dest (which must not exist), checking its length and sha256 against both
// the object's own metadata and the manifest's entry, then fsyncs it and sets entry's mode and mtime.
// Code::corrupt names the file if anything differs; dest is removed on any failure.
Status restore_backup_file(Storage& storage, const std::string& key, const std::string& dest, const BackupFile& entry);

}  // namespace walvault
