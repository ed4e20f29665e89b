// The newest end of the archived WAL, read without listing the whole archive: which timelines hold
// objects (one short list call per timeline), a timeline's newest segment (a search over its wal/<TLI><XLOGID>/
// directories with one-key list calls, then one directory), and the gaps on a backup's lineage from its
// start to the newest archived segment (one list call per directory of that stretch). Used by
// `walvault check`, which must stay fast on an archive of any size; `walvault list` reads everything.
#pragma once

#include "core/common/status.h"
#include "core/repo/wal_catalog.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace walvault {

// Every timeline with at least one object under wal/ (segment, partial, history or .backup file), ascending.
Status list_wal_timelines(Storage& storage, std::vector<uint32_t>& out);

struct ArchivedSegment {
    std::string name;  // "000000010000000000000003"
    uint64_t segno = 0;
    int64_t modified = 0;  // when it was archived (ObjectInfo::modified; 0 if the store does not say)
};

// The newest full segment of `timeline`; nullopt if it has none.
Status newest_segment(Storage& storage, uint32_t timeline, uint64_t segment_size, std::optional<ArchivedSegment>& out);

// One timeline's part of a lineage: the segments [first_segno, end_segno) it must hold (none if end_segno
// is not above first_segno).
struct LineageStretch {
    uint32_t timeline = 0;
    uint64_t first_segno = 0;
    uint64_t end_segno = 0;
};

// What a recovery from a backup started at start_lsn on `timeline` reads on its way to the newest
// archived segment: the lineage of the newest timeline in `timelines` whose history left `timeline` after
// start_lsn (or `timeline` alone if none did), as PostgreSQL picks segments (XLogFileReadAnyTLI: from
// the segment that holds a switch point on, the newer timeline's). The last stretch ends at that
// timeline's newest segment (empty if it has none yet); newest is that segment, or the newest of an
// earlier stretch if the last timeline has none.
struct WalLineage {
    std::vector<LineageStretch> stretches;
    std::optional<ArchivedSegment> newest;
};
Status find_wal_lineage(Storage& storage, uint32_t timeline, uint64_t start_lsn, uint64_t segment_size,
    const std::vector<uint32_t>& timelines, WalLineage& out);

// The segments of a stretch that are not archived, as gaps in order (a missing first or last segment is a
// gap too); segments counts those found. Lists only the stretch's directories.
Status find_stretch_gaps(Storage& storage, const LineageStretch& stretch, uint64_t segment_size,
    std::vector<WalGap>& gaps, uint64_t& segments);

}  // namespace walvault
