// PostgreSQL's own backup_manifest format (version 1 up to PostgreSQL 16, version 2 from 17 on, as the server
// writes it for pg_basebackup and pg_verifybackup reads it), written by `walvault restore` into the restored data
// directory so that `pg_verifybackup -n DIR` can check the restored files against the sizes and checksums the backup
// read.
//
// What PostgreSQL 15's pg_verifybackup checks, and so what the caller must give (tested with 15.20):
// - every regular file under DIR has exactly one entry, and every entry is a file there of that size and
//   checksum (each entry names its algorithm; walvault writes SHA256 and CRC32C); the only things it leaves
//   out are backup_manifest, the whole pg_wal tree, postgresql.auto.conf, recovery.signal and
//   standby.signal (at the top). So list backup_label and tablespace_map if the restore writes them, and
//   verify before the server starts (postmaster.pid).
// - directories need no entry and may be empty; symbolic links are followed, so tablespace files are
//   listed as "pg_tblspc/<oid>/PG_15_.../...". It needs neither global/pg_control nor PG_VERSION.
// - paths are unique (a duplicate is fatal), relative, without NUL bytes; an empty checksum writes the
//   entry without a checksum (size only), like pg_basebackup --manifest-checksums=none.
// - WAL ranges are written in the given order (PostgreSQL lists the newest timeline first); with -n they
//   are parsed but not checked. An empty list is accepted.
// - it runs as any user, root included, who can read every file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace walvault {

// pg_checksum_type_name() of the two algorithms walvault writes.
constexpr const char* k_pg_checksum_sha256 = "SHA256";
constexpr const char* k_pg_checksum_crc32c = "CRC32C";

struct PgManifestFile {
    std::string path;  // relative to the data directory, '/'-separated
    uint64_t size = 0;
    int64_t mtime = 0;  // seconds since the epoch; written as "YYYY-MM-DD HH:MM:SS GMT"
    // PostgreSQL's name of the checksum's algorithm (k_pg_checksum_sha256 or k_pg_checksum_crc32c), and the
    // checksum in lower-case hex as pg_verifybackup compares it; an empty checksum writes neither.
    std::string checksum_algorithm = k_pg_checksum_sha256;
    std::string checksum;
};

struct PgManifestWalRange {
    uint32_t timeline = 0;
    uint64_t start_lsn = 0;
    uint64_t end_lsn = 0;
};

// Which format the server of the backup writes: version 1 up to PostgreSQL 16; version 2 from 17 on, which
// adds "System-Identifier" (pg_verifybackup 17+ checks it against global/pg_control). server_version_num:
// the backed-up server's server_version_num (backup.json's pg_version_num).
struct PgManifestFormat {
    int version = 1;
    uint64_t system_identifier = 0;  // written with version 2 only
};
PgManifestFormat pg_manifest_format_for(int server_version_num, uint64_t system_identifier);

// The whole backup_manifest text: "PostgreSQL-Backup-Manifest-Version" (and with version 2
// "System-Identifier"), "Files" (each with its checksum), "WAL-Ranges", and the "Manifest-Checksum" over
// everything before it, exactly as pg_verifybackup checks it. Paths are JSON-escaped; PostgreSQL's
// "Encoded-Path" is used for paths that are not valid UTF-8.
std::string pg_backup_manifest(const std::vector<PgManifestFile>& files, const std::vector<PgManifestWalRange>& wal,
    const PgManifestFormat& format = {});

}  // namespace walvault
