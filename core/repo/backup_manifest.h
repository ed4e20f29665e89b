// Base backups in the repository: the manifest that makes a backup restorable, and backup labels. A backup
// is complete only once its manifest exists; it is written last and removed first. Where the objects live:
// core/repo/layout.h.
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace walvault {

constexpr int k_backup_manifest_format = 2;         // "format" in backup.json; bump on incompatible change (2: parts)
constexpr int k_oldest_backup_manifest_format = 1;  // the oldest format this walvault still reads
constexpr size_t k_max_label_len = 64;
// The chunk of restore --delta: bytes of an object (a whole file, or a part) whose XXH3-128 the manifest
// records, at offsets 0, k_delta_chunk_bytes, ... from the object's start, the last one shorter. Part sizes
// are whole MiB, so chunks also lie at multiples of k_delta_chunk_bytes from the start of the file.
constexpr uint64_t k_delta_chunk_bytes = 1024UL * 1024;

// One object of a file stored in parts: the bytes read at [offset, offset + size) of the file.
struct BackupPart {
    uint64_t offset = 0;
    uint64_t size = 0;          // bytes read; less than the part size for the last part, 0 if the file shrank
    std::string sha256;         // hex, of those bytes
    uint64_t stored_size = 0;   // bytes of the part's object, trailer included
    std::string xxh3_128 = {};  // hex, of those bytes; empty in backups written before it was recorded
    std::vector<std::string> chunk_xxh3 = {};  // hex, of each k_delta_chunk_bytes of them; empty for one chunk or less
};

// One file of the backup. path is relative to the data directory, '/'-separated; tablespace files are
// under "pg_tblspc/<oid>/" as PostgreSQL's own base backups name them. A file larger than the backup's part
// size is stored in parts (format 2): then parts holds them in file order, sha256 is empty (no one read
// the whole file in one pass) and size is where the last part that read any bytes ends (parts of 0 bytes,
// read after the file shrank, do not extend it).
struct BackupFile {
    std::string path;
    uint64_t size = 0;              // original bytes
    int64_t mtime = 0;              // seconds since the epoch
    uint32_t mode = 0600;           // permission bits
    std::string sha256;             // hex, of the original bytes; empty for a file in parts
    uint64_t stored_size = 0;       // bytes of the object (of all parts' objects), trailers included
    std::vector<BackupPart> parts;  // empty: the file is one object
    std::string xxh3_128 = {};      // for a file in one object: hex, of the original bytes; empty in old backups
    std::vector<std::string> chunk_xxh3 = {};  // for a file in one object: as BackupPart::chunk_xxh3
};

// A directory to recreate (with its permission bits), e.g. "pg_wal", "pg_replslot", "base/16384".
struct BackupDirectory {
    std::string path;
    uint32_t mode = 0700;
};

struct BackupTablespace {
    uint32_t oid = 0;
    std::string name;      // spcname
    std::string location;  // where it was (the pg_tblspc/<oid> link target)
};

struct BackupManifest {
    int format = k_backup_manifest_format;
    std::string label;
    std::string start_time;  // ISO 8601 UTC "2026-11-23T10:15:00Z" (server clock)
    std::string stop_time;
    uint64_t start_lsn = 0;
    uint64_t stop_lsn = 0;
    uint32_t timeline = 0;       // of the start and stop points
    uint64_t stop_next_xid = 0;  // full xid: every transaction at or above it began after the stop
    int pg_version_num = 0;      // server_version_num, 150020
    uint64_t system_identifier = 0;
    uint64_t wal_segment_size = 0;
    std::string compression;     // Compression::to_string()
    std::string backup_label;    // the backup_label content pg_backup_stop returned
    std::string tablespace_map;  // its tablespace_map content ("" without tablespaces)
    std::vector<BackupTablespace> tablespaces;
    std::vector<BackupDirectory> directories;
    std::vector<BackupFile> files;  // sorted by path

    uint64_t original_size() const;  // sum of file sizes
    uint64_t stored_size() const;    // sum of stored sizes (of the parts, for a file in parts)
};

// JSON round trip; from_json names the first missing or mistyped field.
std::string manifest_to_json(const BackupManifest& manifest);
Status manifest_from_json(const std::string& text, BackupManifest& out);

// A label: 1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-', and not "LATEST".
Status check_backup_label(std::string_view label);
// The default label for a backup started at unix time t: "20261123T101500Z".
std::string default_backup_label(int64_t unix_seconds);

}  // namespace walvault
