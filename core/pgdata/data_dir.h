// What a base backup copies from a PostgreSQL data directory, without PostgreSQL headers: the walk with
// PostgreSQL's documented exclusions ("Backing Up the Data Directory" in the manual, and the lists in
// src/backend/backup/basebackup.c), tablespaces followed through pg_tblspc, and the system identifier
// read from global/pg_control.
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace walvault {

struct DataDirEntry {
    enum class Type { file, directory };
    Type type = Type::file;
    std::string path;   // relative to the data directory, '/'-separated; tablespaces under "pg_tblspc/<oid>/"
    uint64_t size = 0;  // files: size at the time of the walk (it may change while the server runs)
    int64_t mtime = 0;  // seconds since the epoch
    uint32_t mode = 0;  // permission bits (st_mode & 07777)
};

struct TablespaceLink {
    uint32_t oid = 0;
    std::string location;  // the pg_tblspc/<oid> symbolic link's target, as readlink() returns it
};

// Walks pgdata in a stable order (sorted by path, byte order), leaving out what PostgreSQL 15's base backup
// leaves out: postmaster.pid, postmaster.opts, backup_label, tablespace_map, backup_manifest,
// postgresql.auto.conf.tmp, current_logfiles.tmp and pg_internal.init* in any directory; pgsql_tmp* files and
// directories; in database directories, temporary relations (t<N>_<N>...) and every fork but _init of an
// unlogged relation (one with an _init fork); and the contents (not the directories themselves) of pg_wal,
// and of pg_replslot, pg_dynshmem, pg_notify, pg_serial, pg_snapshots, pg_subtrans and pg_stat_tmp wherever
// they are. pg_wal/ and pg_wal/archive_status/ are listed as directories even when pg_wal is a symbolic
// link. Other symbolic links are followed; sockets, FIFOs and devices are skipped. Each pg_tblspc/<oid> link
// is reported in tablespaces and only its "PG_<pg_major>_<catalog version>" subdirectory is walked (the
// catalog version read from global/pg_control), as "pg_tblspc/<oid>/PG_..."; a location inside pgdata is
// not walked twice. A file that vanishes during the walk is left out; any other error fails the walk,
// naming the path, and leaves both vectors empty.
Status walk_data_directory(const std::string& pgdata, int pg_major, std::vector<DataDirEntry>& entries,
    std::vector<TablespaceLink>& tablespaces);

// The "Database system identifier" of the cluster whose data directory is pgdata: the first 8 bytes of
// global/pg_control, in the machine's byte order (ControlFileData begins with it in every release).
Status read_system_identifier(const std::string& pgdata, uint64_t& out);

// Whether a process running as effective user `euid` may create a data directory: not as root, since
// PostgreSQL refuses to start a cluster owned by root (and to run as root at all). The error's hint says
// how to run it instead.
Status check_data_directory_creator(uint32_t euid, const std::string& command);

}  // namespace walvault
