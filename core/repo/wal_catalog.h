// What the repository holds of the WAL, per timeline: first and last segment, count, gaps. Used by
// `walvault list`, and by `walvault wal-fetch` to tell a hole in the archive (stop recovery, loudly) from
// the normal end of the archived WAL (exit 1).
#pragma once

#include "core/common/status.h"
#include "core/storage/storage.h"
#include "core/wal/wal_name.h"

#include <cstdint>
#include <optional>
#include <string>
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
    uint64_t segments = 0;              // full segments archived
    uint64_t stored_bytes = 0;          // of segments, partials, history and .backup files of this timeline
    std::vector<std::string> partials;  // .partial file names
    std::vector<WalGap> gaps;           // holes between first_segment and last_segment, in order
};

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

}  // namespace walvault
