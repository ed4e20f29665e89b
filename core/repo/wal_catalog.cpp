// What the repository holds of the WAL: summaries of a wal/ listing, and the hole-or-end question that
// wal-fetch asks on every miss. Keys are recognized only if they are exactly where layout.h puts them.
#include "core/repo/wal_catalog.h"

#include "core/codec/codec.h"
#include "core/repo/layout.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string_view>

namespace walvault {
namespace {

constexpr uint64_t k_xlog_id_span = 0x100000000ULL;  // bytes of WAL per "log" (xlogid), one wal/ directory
constexpr uint32_t k_max_log = 0xFFFFFFFF;

uint64_t segments_per_log(uint64_t segment_size)
{
    return k_xlog_id_span / segment_size;
}

// The WAL name a key stores, if the key is exactly the one wal_object_key() gives for that name (anything
// else under wal/, such as a stray file or a segment in the wrong directory, is not a WAL object), and,
// for names with a segment part, that part is a segment of this size (seg below the segments per log).
std::optional<WalName> wal_name_of_key(std::string_view key, uint64_t segment_size)
{
    const std::string_view prefix = k_wal_prefix;
    const std::string_view suffix = k_object_suffix;
    if (key.size() <= prefix.size() + suffix.size() || key.substr(0, prefix.size()) != prefix ||
        key.substr(key.size() - suffix.size()) != suffix)
        return std::nullopt;
    std::string_view name = key.substr(0, key.size() - suffix.size());
    name = name.substr(name.rfind('/') + 1);
    std::optional<WalName> parsed = parse_wal_name(name);
    if (!parsed || wal_object_key(*parsed) != key)
        return std::nullopt;
    if (parsed->kind != WalKind::history && parsed->seg >= segments_per_log(segment_size))
        return std::nullopt;
    return parsed;
}

// "wal/0000000100000003/": the directory of one timeline and log.
std::string wal_directory_prefix(uint32_t timeline, uint32_t log)
{
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%08X%08X", timeline, log);
    return std::string(k_wal_prefix) + buf + "/";
}

struct TimelineObjects {
    bool has_history = false;
    uint64_t stored_bytes = 0;
    std::vector<uint64_t> segnos;
    std::vector<std::string> partials;
};

// What one wal/ directory listing says about segment number `missing` on timeline `timeline`.
struct Neighbours {
    bool earlier = false;                 // a full segment before it
    std::optional<uint64_t> later_segno;  // the nearest segment or partial after it
    std::string later_name;
};

void scan_directory(const std::vector<ObjectInfo>& objects, uint32_t timeline, uint64_t missing, uint64_t segment_size,
    Neighbours& found)
{
    for (const ObjectInfo& object : objects) {
        const std::optional<WalName> name = wal_name_of_key(object.key, segment_size);
        if (!name || name->timeline != timeline)
            continue;
        if (name->kind != WalKind::segment && name->kind != WalKind::partial)
            continue;
        const uint64_t segno = segment_number(*name, segment_size);
        // Only a full segment shows that the timeline existed before the missing one; a partial after it
        // shows the timeline went on past it just as well as a segment does.
        if (segno < missing && name->kind == WalKind::segment)
            found.earlier = true;
        // At equal numbers the full segment wins: it is the name to report.
        if (segno > missing &&
            (!found.later_segno || segno < *found.later_segno ||
                (segno == *found.later_segno && name->kind == WalKind::segment))) {
            found.later_segno = segno;
            found.later_name = name->text;
        }
    }
}

}  // namespace

std::vector<TimelineSummary> summarize_wal(const std::vector<ObjectInfo>& objects, uint64_t segment_size)
{
    // Without a valid size there are no segment numbers; nothing can be said (and nothing divided by 0).
    if (!valid_wal_segment_size(segment_size))
        return {};

    std::map<uint32_t, TimelineObjects> by_timeline;
    for (const ObjectInfo& object : objects) {
        const std::optional<WalName> name = wal_name_of_key(object.key, segment_size);
        if (!name)
            continue;
        TimelineObjects& tl = by_timeline[name->timeline];
        tl.stored_bytes += object.size;
        switch (name->kind) {
        case WalKind::segment:
            tl.segnos.push_back(segment_number(*name, segment_size));
            break;
        case WalKind::partial:
            tl.partials.push_back(name->text);
            break;
        case WalKind::history:
            tl.has_history = true;
            break;
        case WalKind::backup:
            break;
        }
    }

    std::vector<TimelineSummary> out;
    out.reserve(by_timeline.size());
    for (auto& [timeline, tl] : by_timeline) {
        TimelineSummary summary;
        summary.timeline = timeline;
        summary.has_history = tl.has_history;
        summary.stored_bytes = tl.stored_bytes;
        std::sort(tl.partials.begin(), tl.partials.end());
        summary.partials = std::move(tl.partials);

        // Listings are sorted by key, which is segment order within a timeline; sort anyway so that the
        // result does not depend on the backend.
        std::sort(tl.segnos.begin(), tl.segnos.end());
        tl.segnos.erase(std::unique(tl.segnos.begin(), tl.segnos.end()), tl.segnos.end());
        summary.segments = tl.segnos.size();
        if (!tl.segnos.empty()) {
            summary.first_segment = segment_file_name(timeline, tl.segnos.front(), segment_size);
            summary.last_segment = segment_file_name(timeline, tl.segnos.back(), segment_size);
        }
        for (size_t i = 1; i < tl.segnos.size(); ++i) {
            const uint64_t before = tl.segnos[i - 1];
            const uint64_t after = tl.segnos[i];
            if (after - before > 1)
                summary.gaps.push_back(WalGap{segment_file_name(timeline, before + 1, segment_size),
                    segment_file_name(timeline, after - 1, segment_size), after - before - 1});
        }
        out.push_back(std::move(summary));
    }
    return out;
}

// Cost: one list of the missing segment's directory; the next directory only if nothing later is in it
// (at the normal end of the archive that is the last call); the previous directory only if something later
// was found and nothing earlier. So a hole wider than a whole directory (256 segments of 16 MiB) beside the
// missing segment's directory is not seen, and is taken for the end of the archive or for a probe: the
// price of not listing a whole timeline on every miss.
Status find_later_segment(
    Storage& storage, const WalName& missing, uint64_t segment_size, std::optional<std::string>& later)
{
    later.reset();
    if (!valid_wal_segment_size(segment_size))
        return Status::error(Code::invalid, "invalid WAL segment size " + std::to_string(segment_size) + " bytes",
            "The size must be a power of two between 1 MiB and 1 GiB.");
    // History files and the other kinds are never holes in a run of segments, and a name whose segment
    // part is out of range for this size is not a segment PostgreSQL can ask for.
    if (missing.kind != WalKind::segment || missing.seg >= segments_per_log(segment_size))
        return Status::ok();

    const uint64_t segno = segment_number(missing, segment_size);
    Neighbours found;
    std::vector<ObjectInfo> listed;

    Status s = storage.list(wal_directory_prefix(missing.timeline, missing.log), listed);
    if (!s.is_ok())
        return s;
    scan_directory(listed, missing.timeline, segno, segment_size, found);

    if (!found.later_segno && missing.log < k_max_log) {
        s = storage.list(wal_directory_prefix(missing.timeline, missing.log + 1), listed);
        if (!s.is_ok())
            return s;
        scan_directory(listed, missing.timeline, segno, segment_size, found);
    }
    if (!found.later_segno)
        return Status::ok();  // the end of what this timeline has archived

    if (!found.earlier && missing.log > 0) {
        s = storage.list(wal_directory_prefix(missing.timeline, missing.log - 1), listed);
        if (!s.is_ok())
            return s;
        scan_directory(listed, missing.timeline, segno, segment_size, found);
    }
    if (!found.earlier)
        return Status::ok();  // before the timeline began: PostgreSQL probing a newer timeline

    later = found.later_name;
    return Status::ok();
}

}  // namespace walvault
