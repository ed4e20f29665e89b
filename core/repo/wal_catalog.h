// What the repository holds of the WAL, per timeline: first and last segment, count, gaps. Used by
// `walvault list`, and by `walvault wal-fetch` to tell a hole in the archive (stop recovery, loudly) from
// the normal end of the archived WAL (exit 1).
#pragma once

#include "core/common/status.h"
#include "core/storage/storage.h"
#include "core/wal/timeline_history.h"
#include "core/wal/wal_name.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walvault {

struct WalGap {
    std::string first_missing;  // segment names
    std::string last_missing;
    uint64_t segments = 0;  // how many are missing
};

struct TimelineSummary {
    uint32_t timeline = 0;
    bool has_history = false;   // <TLI>.history is archived (always false for timeline 1)
    std::string first_segment;  // "" if the timeline has no segment (only a .history or .partial)
    std::string last_segment;
    int64_t last_segment_time = 0;      // when last_segment was archived (ObjectInfo::modified; 0 if unknown)
    uint64_t segments = 0;              // full segments archived
    uint64_t stored_bytes = 0;          // of segments, partials, history and .backup files of this timeline
    std::vector<std::string> partials;  // .partial file names
    std::vector<WalGap> gaps;           // holes between first_segment and last_segment, in order
};

// The WAL name a key under wal/ stores, if the key is exactly the one wal_object_key() gives for that name
// and, for names with a segment part, that part is a segment of segment_size; nullopt for anything else.
std::optional<WalName> wal_name_of_key(std::string_view key, uint64_t segment_size);

// Summarizes a listing of the wal/ prefix (keys as Storage::list returns them; keys that are not WAL
// objects are ignored), by timeline in ascending order.
std::vector<TimelineSummary> summarize_wal(const std::vector<ObjectInfo>& objects, uint64_t segment_size);

// For a segment that is not in the repository: the name of the nearest archived segment (or partial) after
// it on the same timeline, in any later directory, or else the first segment of a newer timeline whose
// history left this timeline after the missing segment (its lineage needs the segment whole) — if there is
// one AND an archived segment before the missing one on its timeline too. Then the missing one is a hole,
// not the end of the archive, and not a segment from before the timeline began that PostgreSQL probes.
// nullopt otherwise. A history file that cannot be read or parsed is an error, never "no hole".
Status find_later_segment(
    Storage& storage, const WalName& missing, uint64_t segment_size, std::optional<std::string>& later);

// Reads and parses timeline `timeline`'s archived history file; Code::not_found if the repository has none.
Status read_timeline_history(Storage& storage, uint32_t timeline, std::vector<TimelineSwitch>& out);

// Where a timeline branched off its parent, from its history file.
struct TimelineFork {
    uint32_t timeline = 0;  // the branch
    uint32_t parent = 0;    // the timeline it left
    uint64_t fork_lsn = 0;  // where it left it
    // The parent has a segment archived after the one that holds the fork point: the server that was on the
    // parent kept writing after the branch was made (a copy promoted beside a running primary, or a
    // point-in-time recovery that was promoted). Two histories then share the past and differ after it.
    bool parent_continues = false;
    std::string parent_last_segment;  // the parent's newest archived segment
    int64_t parent_last_time = 0;     // when it was archived (0 if unknown)
    std::string last_segment;         // the branch's newest archived segment ("" if none yet)
    int64_t last_time = 0;            // when it was archived (0 if unknown)
};

// The fork of every timeline in timelines that has a history file, in timeline order.
Status read_timeline_forks(Storage& storage, const std::vector<TimelineSummary>& timelines, uint64_t segment_size,
    std::vector<TimelineFork>& out);

// The forks that a recovery from a backup started at start_lsn on `timeline` meets when it follows the newest
// timeline (recovery_target_timeline = latest) and whose parent continues: there PostgreSQL would take the
// newest branch without a word, and leave out what the other one holds.
std::vector<TimelineFork> live_forks_reached(
    const std::vector<TimelineFork>& forks, uint32_t timeline, uint64_t start_lsn);

}  // namespace walvault
