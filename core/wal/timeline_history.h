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

// Where a receiver that already holds WAL of `timeline` goes on when it reaches a server (walvault receive after
// a reconnect, which may reach another server after a failover). `received`: the end of the WAL it received on
// `timeline`; `durable`: the end of what of it is durable in the repository. The server is on
// `server_timeline`, its WAL ends at `server_lsn` (IDENTIFY_SYSTEM), and `server_history` is its timeline's
// history (empty for timeline 1).
struct ResumePoint {
    enum class Kind {
        same,           // the position is on the server's history: go on from it
        forked,         // the server's history left `timeline` at `switch_lsn`, before `received`: go on on
                        // `next_timeline` from switch_lsn (the WAL of `timeline` past it is not the server's)
        foreign,        // `timeline` is neither the server's nor in its history
        server_behind,  // the server is on `timeline` but its WAL ends before `durable`
    } kind = Kind::same;
    uint32_t next_timeline = 0;  // forked: the timeline that follows `timeline` in the server's history
    uint64_t switch_lsn = 0;     // forked: where the server's history left `timeline`
};
ResumePoint resume_point(uint32_t timeline, uint64_t received, uint64_t durable, uint32_t server_timeline,
    uint64_t server_lsn, const std::vector<TimelineSwitch>& server_history);

}  // namespace walvault
