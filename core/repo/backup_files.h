// One data-directory file into a backup, and back: the same codec as WAL (sha256 -> zstd -> storage),
// without WAL's rules about size and re-archiving. A live cluster's files change while they are copied;
// WAL replay from the backup's start point repairs that, which is why a backup needs its WAL.
#pragma once

#include "core/codec/codec.h"
#include "core/codec/xxh3.h"
#include "core/pgdata/pg_backup_manifest.h"
#include "core/repo/backup_manifest.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace walvault {

// Files larger than the setting part_size are stored in parts of that size, so that the workers of one
// backup or restore share a 1 GiB relation segment instead of one of them carrying it alone.
// How many parts a file of `size` bytes is stored in: 0 (one object) if it is not larger than part_size,
// else size / part_size rounded up. The last part reads to the end of the file, wherever that is then.
size_t backup_part_count(uint64_t size, uint64_t part_size);

// The XXH3-128 of each k_delta_chunk_bytes of a stream of bytes fed in pieces of any size: the chunk_xxh3 of
// the manifest (core/repo/backup_manifest.h).
class ChunkHasher {
public:
    void update(const uint8_t* data, size_t len);
    // The chunks' checksums, none for one chunk or less (the object's whole checksum says as much); the object
    // starts over afterwards.
    std::vector<std::string> finish();

private:
    Xxh3Hash m_hash;
    uint64_t m_fill = 0;
    std::vector<std::string> m_chunks;
};

// Stores the file at path under key, reading it to its end as it is now (no size check); fills size,
// sha256, xxh3_128, chunk_xxh3 and stored_size of entry. Code::not_found if the file is gone (a dropped relation: leave
// it out).
Status store_backup_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& path, BackupFile& entry);

// Stores bytes [offset, offset + max_len) of the file at path under key (max_len 0: to the end of the file as
// it is now; fewer bytes, even none, if the file is shorter), as an object named name (the file's path in
// the data directory). Fills out, its fast checksums (xxh3_128, chunk_xxh3) included. Code::not_found if the file is
// gone; nothing is stored then.
Status store_backup_range(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& path, const std::string& name, uint64_t offset, uint64_t max_len, BackupPart& out);

// The CRC-32C of a file in parts, as PostgreSQL's backup_manifest spells it, from the CRC-32C of each part
// (part_crc, in file order), when the parts lie end to end and cover the file (a part read short leaves a gap
// of zeros whose CRC the parts do not have) and crc32c_available(); false otherwise.
bool combine_part_crc32c(const BackupFile& entry, const std::vector<uint32_t>& part_crc, std::string& out);

// One file of a backup being restored, shared by the tasks that restore its parts (one task for a file
// stored as one object). Tasks run in any order, on any threads. The first to start creates dest (which
// must not exist); each writes its object's bytes at its part's offset (past the page cache for objects of
// 1 MiB and more, where the file system allows: see core/common/direct_io.h) after checking the object's
// content against its trailer (decode_object_fast) and its length, sha256 and name against the manifest
// (Code::corrupt naming the object); the one that finishes
// last sets the length to entry.size (a gap left by a short part stays zeros), gives the file its checksum
// for PostgreSQL's backup_manifest, and sets mode and mtime. Nothing is fsynced. On any failure dest is
// removed, and tasks of the file that start afterwards fail at once.
// The checksum: the manifest's sha256 for a file in one object; for a file in parts, the CRC-32C combined
// from each part's, computed as it was written, or (no CRC-32C on this CPU, or parts that leave a gap)
// the sha256 of the file read back.
class FileRestore {
public:
    // entry must outlive this object; file_key is backup_file_key() of entry (parts: backup_part_key()).
    FileRestore(const BackupFile& entry, std::string file_key, std::string dest);
    FileRestore(const FileRestore&) = delete;
    FileRestore& operator=(const FileRestore&) = delete;

    size_t task_count() const;  // entry's parts, or 1
    const BackupFile& entry() const { return m_entry; }
    Status restore_task(Storage& storage, size_t index);
    // After every task succeeded: the restored file's checksum for backup_manifest, as PostgreSQL names
    // its algorithm (k_pg_checksum_sha256 or k_pg_checksum_crc32c) and spells the value.
    const std::string& checksum_algorithm() const { return m_checksum_algorithm; }
    const std::string& checksum() const { return m_checksum; }

private:
    Status open_for_task(int& fd);
    Status finish(int fd);
    bool combine_part_crcs();
    Status write_error(int err) const;
    void fail();

    const BackupFile& m_entry;
    std::string m_key;
    std::string m_dest;
    std::mutex m_mutex;  // guards the fields below and the creation and removal of dest
    bool m_created = false;
    bool m_failed = false;
    size_t m_remaining;
    std::vector<uint32_t> m_part_crc;  // CRC-32C of each part as written (when crc32c_available())
    std::string m_checksum_algorithm;
    std::string m_checksum;
};

// Restores a whole file (all its tasks in turn, see FileRestore) to dest, which must not exist, and fsyncs
// it. Code::corrupt names the object if anything differs from the manifest; dest is removed on any failure.
Status restore_backup_file(Storage& storage, const std::string& key, const std::string& dest, const BackupFile& entry);

// Claims a label for one run of walvault backup, before anything else is written under it: creates
// backup/<label>/started.json (create-only) with the label, started (ISO 8601 UTC), system_identifier and a
// random "claim" token, returned in token, then reads it back and checks that the token is ours. A store
// that ignores create-only writes (If-None-Match) lets a second run replace the object: the read-back, and
// check_backup_claim() later on, see that. Code::already_exists, naming the label, when another run has it.
Status claim_backup_label(Storage& storage, const std::string& label, const std::string& started,
    uint64_t system_identifier, std::string& token);
// Ok while backup/<label>/started.json still holds token; else Code::already_exists, naming the label.
Status check_backup_claim(Storage& storage, const std::string& label, const std::string& token);

}  // namespace walvault
