// Retention: which backups and which WAL a policy keeps, worked out as a plan that `walvault expire` prints
// and then carries out (tool/commands/expire.cpp). Pure: it reads a catalog and a listing and decides; it
// never touches a store. docs/retention.md describes the rules for operators.
//
// Backups are ordered by start LSN, then timeline (never by label text). A complete backup is kept when any
// rule keeps it: the newest one always; retain_full = N keeps the newest N; retain_window = D keeps every
// backup that finished within the last D and the newest one that finished before the window began (so that
// every point in the window stays restorable); an active pin keeps it whatever the policy says. An
// incomplete backup goes once its writer is gone (its lease lapsed); while any writer is alive, nothing may
// be removed at all.
//
// WAL follows the kept backups, per timeline, through the .history files: a kept backup that started at
// LSN S on timeline T needs T's WAL from S's segment on, and that of every timeline whose history leaves T at
// or after S (the timelines a recovery from it can follow). A backup kept as a standalone copy (a pin with
// standalone WAL) needs only its own start..stop segments and the one after them (which recovery reads
// ahead into before it stops at consistency). Everything else goes: WAL before the oldest kept
// start, and whole timelines that no kept backup reaches. A history file stays while its timeline, or one
// descending from it, keeps anything. With no complete backup at all, all WAL is kept.
#pragma once

#include "core/repo/backup_catalog.h"
#include "core/storage/storage.h"
#include "core/wal/timeline_history.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace walvault {

struct RetentionPolicy {
    int64_t retain_full = 0;    // keep the newest N complete backups; 0: not set
    int64_t retain_window = 0;  // seconds; 0: not set

    bool is_set() const { return retain_full > 0 || retain_window > 0; }
};

struct ExpireInput {
    const std::vector<BackupRecord>* backups = nullptr;  // read_backup_catalog()
    const std::vector<ObjectInfo>* wal = nullptr;        // a listing of wal/
    // The parsed history of every timeline whose .history object is in the listing.
    std::map<uint32_t, std::vector<TimelineSwitch>> histories;
    uint64_t segment_size = 0;
    int64_t now = 0;            // unix seconds
    int64_t lease_timeout = 0;  // seconds: for an incomplete backup without a lease, since its start
    RetentionPolicy policy;
};

struct BackupVerdict {
    const BackupRecord* record = nullptr;
    bool keep = false;
    std::vector<std::string> reasons;  // why it stays, or why it goes
    bool standalone = false;           // kept, but only with the WAL from its start to its stop
    bool writer_alive = false;         // incomplete, and its writer is still at work
};

// What goes of one timeline's WAL.
struct WalExpiry {
    uint32_t timeline = 0;
    bool whole = false;       // nothing of the timeline stays (no kept backup reaches it)
    std::string first, last;  // the first and last file name removed (segments, partials, .backup files)
    std::string first_kept;   // the first file name that stays; "" when whole
    uint64_t objects = 0;     // segments, partials and .backup files removed
    uint64_t bytes = 0;
    bool history = false;  // its .history file goes too
};

struct ExpirePlan {
    std::vector<BackupVerdict> backups;     // in catalog order
    std::vector<WalExpiry> wal;             // timelines that lose anything, ascending
    std::vector<std::string> wal_keys;      // segments, partials, .backup files to remove, in key order
    std::vector<std::string> history_keys;  // .history objects to remove (after every other WAL object)
    std::vector<std::string> writers;       // live writers, described; while any: remove nothing
    std::vector<std::string> notices;       // lapsed leases broken, pins past their time, unknown lineages
    uint64_t backups_removed = 0;
    uint64_t backup_objects = 0;  // of the backups removed
    uint64_t backup_bytes = 0;
    uint64_t wal_bytes = 0;  // of wal_keys and history_keys

    bool blocked() const { return !writers.empty(); }
};

// Works out the plan. Code::invalid if the policy is not set (expire never guesses).
Status plan_expire(const ExpireInput& in, ExpirePlan& out);

}  // namespace walvault
