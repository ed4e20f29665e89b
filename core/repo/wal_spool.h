// The prefetch spool of `walvault wal-fetch`: WAL segments downloaded ahead of recovery, verified, into a
// directory inside the data directory (pg_wal/walvault-spool, the file system of %p), and served to
// PostgreSQL by a rename. WalSpool is the directory and its rules; run_prefetcher is the downloading loop.
#pragma once

#include "core/common/status.h"
#include "core/storage/storage.h"
#include "core/wal/wal_name.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace walvault {

constexpr const char* k_spool_dir = "pg_wal/walvault-spool";        // relative to the data directory
constexpr const char* k_spool_marker_file = "spool.json";           // whose spool: SpoolMarker
constexpr const char* k_spool_position_file = "position";           // where recovery is: SpoolPosition
constexpr const char* k_spool_lock_file = "prefetch.lock";          // flock()ed by the prefetcher; holds its PID
constexpr const char* k_spool_stats_file = "stats.json";            // SpoolStats, kept by wal-fetch
constexpr auto k_prefetch_idle_timeout = std::chrono::seconds(30);  // no new position: the prefetcher exits
constexpr auto k_prefetch_poll_interval = std::chrono::milliseconds(50);
constexpr int k_end_of_archive_attempts = 3;                              // a missing segment is asked for this often
constexpr auto k_end_of_archive_retry = std::chrono::milliseconds(1000);  // ... this far apart
constexpr auto k_spool_stall_timeout = std::chrono::seconds(5);  // wal-fetch waits for a live download while it grows

// Which repository and database system the spooled files come from. A spool whose marker differs is
// wiped before use and never served from.
struct SpoolMarker {
    std::string repository;  // Storage::identity(): the store itself, endpoint and all
    uint64_t system_identifier = 0;
    uint64_t wal_segment_size = 0;  // from the repository's identity; the size of every servable file
    std::string boot_id;            // the machine's boot the spool was adopted in (written by adopt())

    // Same repository and system (the segment size follows from those).
    bool same_source(const SpoolMarker& other) const
    {
        return repository == other.repository && system_identifier == other.system_identifier;
    }
};

// The last segment PostgreSQL obtained, and from where: a prefetcher of another source stops.
struct SpoolPosition {
    std::string segment;
    std::string repository;
    uint64_t system_identifier = 0;
};

// Counters of wal-fetch, for the operator: segments served from the spool, fetched directly, and spooled
// files refused (and deleted) because they failed a check.
struct SpoolStats {
    uint64_t served = 0;
    uint64_t direct = 0;
    uint64_t refused = 0;
};

// Linux's id of the running boot (/proc/sys/kernel/random/boot_id), "" where there is none.
std::string current_boot_id();

// The spool directory. Only final-named files ("000000010000000000000005") are ever served: the prefetcher
// writes ".<name>.tmp" under flock() and renames it only once its length and checksum are verified.
// Spooled files are fsynced before their rename, for recovery's speed more than for the spool's sake:
// PostgreSQL fsyncs each segment restore_command delivers (durable_rename into pg_wal) while recovery waits,
// and on the development VM that fsync takes ~13 ms for 16 MiB written just before, ~1.5 ms when the data
// was fsynced earlier; the prefetcher pays its fsync ahead of recovery. The marker also records the boot it
// was written in, and a spool of another boot is never served and is wiped by the next adopt(): a second
// guard against files a crash of the machine left behind. Methods are safe against a concurrent prefetcher
// (another process), not meant to be shared by threads except fetch(), prune() and has().
class WalSpool {
public:
    // boot_id: this machine's boot (current_boot_id()); tests pass their own to play a restart.
    explicit WalSpool(std::string dir, std::string boot_id = current_boot_id())
        : m_dir(std::move(dir))
        , m_boot_id(std::move(boot_id))
    {
    }
    const std::string& dir() const { return m_dir; }
    std::string path(const std::string& name) const { return m_dir + "/" + name; }

    // Creates the directory (mode 0700) if needed and makes the spool belong to marker: if its marker is
    // missing, unreadable or of another source, segment size or boot, every WAL and unlocked temporary file
    // is removed first (*wiped says so). Then writes marker, with this boot's id.
    Status adopt(const SpoolMarker& marker, bool* wiped = nullptr);
    Status read_marker(SpoolMarker& out) const;

    // Moves the spooled segment `name` to dest (a rename: dest must be on the same file system). Ok: served.
    // Code::not_found: not spooled, or the spool is of another source than expected or of an earlier boot
    // of the machine (left alone). If a live
    // download of it is under way, waits while it grows (stall_timeout without growth: gives up).
    // Code::corrupt: a spooled file that is not exactly the marker's segment size; it is deleted.
    Status take(const WalName& name, const SpoolMarker& expected, const std::string& dest,
        std::chrono::milliseconds stall_timeout = k_spool_stall_timeout);

    // Downloads segment `name` from storage into ".<name>.tmp" (streaming, under flock), checks the object's
    // name, length (= segment_size) and checksum (decode_object_fast), fsyncs, renames to name. cancelled() is
    // polled per chunk. Code::not_found if the repository does not have it; the temporary file is removed on any
    // failure.
    Status fetch(Storage& storage, const WalName& name, uint64_t segment_size, const std::function<bool()>& cancelled);
    // The final file of name exists.
    bool has(const std::string& name) const;
    // Removes segments at or before position on its timeline, segments of other timelines, and temporary
    // files no one holds locked. Leaves the spool's own files (marker, position, lock, stats) alone.
    Status prune(const WalName& position, uint64_t segment_size);
    // Removes every WAL file and unlocked temporary file; *removed counts them.
    Status clear(size_t* removed = nullptr);

    Status write_position(const SpoolPosition& position);
    Status read_position(SpoolPosition& out) const;
    Status read_stats(SpoolStats& out) const;   // zeros if there is no stats file yet
    Status add_stats(const SpoolStats& delta);  // read, add, write back (wal-fetch is the only writer)

private:
    // Removes the final segment files for which which() is true, and unlocked temporary files.
    Status remove_wal_files(const std::function<bool(const WalName&)>& which, size_t* removed = nullptr);

    std::string m_dir;
    std::string m_boot_id;
};

struct PrefetchOptions {
    int window = 1;    // segments after the position to keep spooled (the setting prefetch)
    int parallel = 1;  // downloads at once (the setting parallel)
    std::chrono::milliseconds idle_timeout = k_prefetch_idle_timeout;
    std::chrono::milliseconds poll_interval = k_prefetch_poll_interval;
    int end_of_archive_attempts = k_end_of_archive_attempts;
    std::chrono::milliseconds end_of_archive_retry = k_end_of_archive_retry;
    std::function<bool()> keep_going;  // false: stop now (SIGTERM, postmaster gone); empty: always true
};

enum class PrefetchEnd {
    end_of_archive,  // the next segment is not in the repository, after end_of_archive_attempts tries
    idle,            // the position did not change for idle_timeout
    stopped,         // keep_going() said so, or there is no position to work from
    other_source,    // the position names another repository or system: a newer wal-fetch took over
};

struct PrefetchResult {
    PrefetchEnd end = PrefetchEnd::stopped;
    uint64_t fetched = 0;    // segments downloaded and spooled
    uint64_t failed = 0;     // downloads that failed other than "not found" (not retried; wal-fetch reports)
    std::string last_error;  // message of the last of those
};

// The prefetcher: follows the position file and keeps the next `window` segments of the position's
// timeline spooled, `parallel` downloads at a time, nearest first; prunes what recovery is past. The spool
// must have been adopt()ed for marker. Returns when one of PrefetchEnd happens, after its downloads ended.
Status run_prefetcher(WalSpool& spool, Storage& storage, const SpoolMarker& marker, const PrefetchOptions& options,
    PrefetchResult& result);

}  // namespace walvault
