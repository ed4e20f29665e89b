// restore --delta: bringing an existing data directory of the same database system back to a backup by
// rewriting only what differs. The plan (which files to compare, write or remove) and the chunk comparison
// are pure functions; hash_local_object() reads a local file, patch_backup_object() writes the chunks of one
// object that differ. tool/commands/restore.cpp runs them on its workers.
#pragma once

#include "core/common/status.h"
#include "core/repo/backup_manifest.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace walvault {

// An entry of the data directory as it is before the restore. path as in the manifest ("pg_tblspc/<oid>/..."
// through a tablespace link).
struct LocalEntry {
    enum class Type { file, directory, other };  // other: a symbolic link, socket, FIFO or device
    Type type = Type::file;
    std::string path;
    uint64_t size = 0;  // files
};

// Lists pgdata recursively without following symbolic links, except: pg_wal when it is a link to a
// directory (listed as a directory), and each pg_tblspc/<oid> link (listed as "other", since the link itself
// is what the restore keeps or removes) of which only the subdirectory tablespace_versions[oid path] is
// walked ("pg_tblspc/16385" -> "PG_15_202209061"). Sorted by path.
Status list_local_directory(const std::string& pgdata,
    const std::vector<std::pair<std::string, std::string>>& tablespace_versions, std::vector<LocalEntry>& out);

// What a delta restore does with each file. Indices are into manifest.files.
struct DeltaPlan {
    std::vector<size_t> compare;      // a regular file is there: hash it and rewrite the chunks that differ
    std::vector<size_t> write;        // nothing usable is there (absent, another type, or a one-object file of
                                      // another size): write it whole
    std::vector<std::string> remove;  // what the backup does not have, outermost first; a directory goes with
                                      // what it holds
};

// The plan for restoring manifest into a directory holding local. keep: paths that restore writes itself or
// must leave alone (backup_label, the signal file, tablespace links, ...): never removed, never compared.
// A local file or link where the backup has a directory, or a directory where it has a file, is removed first.
DeltaPlan plan_delta(
    const BackupManifest& manifest, const std::vector<LocalEntry>& local, const std::set<std::string>& keep);

// One object of a file (the whole file, or one part) as the backup has it.
struct DeltaObject {
    uint64_t offset = 0;  // in the file
    uint64_t size = 0;
    const std::string* sha256 = nullptr;
    const std::string* xxh3_128 = nullptr;  // may be empty (backups written before it was recorded)
    const std::vector<std::string>* chunk_xxh3 = nullptr;
};
// part: an index into entry.parts, or nullopt for a file in one object.
DeltaObject delta_object(const BackupFile& entry, std::optional<size_t> part);
size_t delta_object_count(const BackupFile& entry);  // entry.parts.size(), or 1

// What the local file holds at an object's place, as hash_local_object() computed it.
struct LocalObject {
    uint64_t size = 0;                    // bytes read (less than the object's where the local file ends sooner)
    std::string xxh3_128;                 // of those bytes (when the backup records one)
    std::string sha256;                   // of those bytes (only when the backup records no xxh3_128)
    std::vector<std::string> chunk_xxh3;  // per k_delta_chunk_bytes (when the backup records a chunk list)
    uint32_t crc32c = 0;                  // of those bytes (with want_crc32c, for PostgreSQL's backup_manifest)
};

// The number of chunks of an object: its size in k_delta_chunk_bytes, rounded up.
size_t delta_chunk_count(uint64_t object_size);

// Which chunks of the object to rewrite, one entry per chunk: all of them (or none) when the backup has no
// chunk list and the whole object differs (or not); else each chunk whose checksum differs or that the local
// file does not reach. None marked: keep it.
std::vector<bool> chunks_to_rewrite(const DeltaObject& backup, const LocalObject& local);

// Reads [object.offset, object.offset + object.size) of the local file path (fewer bytes where it ends sooner)
// and computes what chunks_to_rewrite() needs for object, and the CRC-32C with want_crc32c.
Status hash_local_object(const std::string& path, const DeltaObject& object, bool want_crc32c, LocalObject& out);

// Decodes the object key (checked against its trailer, and its length, sha256 and name against entry) and
// writes each chunk that rewrite marks (one entry per chunk, see delta_chunk_count()) at its place in dest, which is
// created if absent and otherwise neither truncated nor extended past the object's end. crc32c: when given,
// receives the CRC-32C of all the object's bytes. Nothing is fsynced; the caller sets the file's length.
Status patch_backup_object(Storage& storage, const std::string& key, const BackupFile& entry,
    std::optional<size_t> part, const std::string& dest, const std::vector<bool>& rewrite, uint32_t* crc32c);

// The first 8 bytes of a pg_control file (its system identifier, in the machine's byte order).
Status read_control_file_identifier(const std::string& path, uint64_t& out);

}  // namespace walvault
