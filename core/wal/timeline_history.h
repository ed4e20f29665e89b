// Timeline history files as PostgreSQL writes them (src/backend/access/transam/timeline.c): for timeline N,
// "N.history" has one line per ancestor, oldest first: "<parent timeline>\t<switch LSN>\t<reason>", where
// the switch LSN is where the history left that parent. Lines starting with '#' and blank lines are ignored.
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walvault {

struct TimelineSwitch {
    uint32_t parent = 0;      // the ancestor timeline
    uint64_t switch_lsn = 0;  // where the history left it: the ancestor's WAL up to here belongs to the lineage
    std::string reason;       // free text ("no recovery target specified", "before 2026-11-23 10:15:00+00")
};

// Parses the content of timeline `timeline`'s history file, with PostgreSQL's rules (readTimeLineHistory):
// parent timelines strictly increasing and all below `timeline`.
// Code::corrupt, naming the line, otherwise.
Status parse_timeline_history(std::string_view text, uint32_t timeline, std::vector<TimelineSwitch>& out);

// Where a history left `ancestor`: its entry's switch LSN, or nullopt if `ancestor` is not in it.
std::optional<uint64_t> switch_point_from(const std::vector<TimelineSwitch>& history, uint32_t ancestor);

}  // namespace walvault
