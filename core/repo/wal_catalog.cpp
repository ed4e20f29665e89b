// What the repository holds of the WAL: summaries of a wal/ listing, and the hole-or-end question that
// wal-fetch asks on every miss. Keys are recognized only if they are exactly where layout.h puts them.
#include "core/repo/wal_catalog.h"

#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/wal/timeline_history.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string_view>

namespace walvault {
namespace {

constexpr uint64_t k_xlog_id_span = 0x100000000ULL;  // bytes of WAL per "log" (xlogid), one wal/ directory
constexpr size_t k_catalog_page_keys = 1000;         // keys per list call when looking for one object
constexpr size_t k_max_history_bytes = 1 << 20;      // history files are a line per timeline switch

uint64_t segments_per_log(uint64_t segment_size)
{
    return k_xlog_id_span / segment_size;
}

}  // namespace

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

namespace {

// "wal/00000001": what every key of one timeline starts with (its history file and its directories).
std::string timeline_prefix(uint32_t timeline)
{
    char buf[9];
    std::snprintf(buf, sizeof(buf), "%08X", timeline);
    return std::string(k_wal_prefix) + buf;
}

// A start_after that skips a timeline's history file ("wal/00000001.history.zst") but none of its
// directories ("wal/0000000100000000/..."): '.' sorts before '/', and '/' before every hex digit.
std::string after_history_key(uint32_t timeline)
{
    return timeline_prefix(timeline) + "/";
}

struct TimelineObjects {
    bool has_history = false;
    uint64_t stored_bytes = 0;
    std::vector<uint64_t> segnos;
    std::vector<std::string> partials;
    uint64_t newest_segno = 0;    // the highest segment number seen
    int64_t newest_modified = 0;  // its ObjectInfo::modified
};

// The first WAL object under prefix, after start_after in key order, for which stop() is true; pages
// through the listing, so it reads only as far as it must.
Status first_wal_object(Storage& storage, const std::string& prefix, std::string start_after, uint64_t segment_size,
    const std::function<bool(const WalName&)>& stop, std::optional<WalName>& found)
{
    found.reset();
    std::vector<ObjectInfo> page;
    for (;;) {
        Status s = storage.list(prefix, ListRange{start_after, k_catalog_page_keys}, page);
        if (!s.is_ok())
            return s;
        for (const ObjectInfo& object : page) {
            const std::optional<WalName> name = wal_name_of_key(object.key, segment_size);
            if (name && stop(*name)) {
                found = name;
                return Status::ok();
            }
        }
        if (page.size() < k_catalog_page_keys)
            return Status::ok();
        start_after = page.back().key;
    }
}

bool is_segment_or_partial(const WalName& name)
{
    return name.kind == WalKind::segment || name.kind == WalKind::partial;
}

// The nearest segment or partial of `timeline` after segment number `segno`, in whichever of its
// directories it lies.
Status later_on_timeline(
    Storage& storage, const WalName& missing, uint64_t segno, uint64_t segment_size, std::optional<WalName>& later)
{
    Status s = first_wal_object(
        storage, timeline_prefix(missing.timeline), wal_object_key(missing), segment_size,
        [&](const WalName& name) {
            return name.timeline == missing.timeline && is_segment_or_partial(name) &&
                segment_number(name, segment_size) > segno;
        },
        later);
    if (!s.is_ok() || !later || later->kind != WalKind::partial)
        return s;
    // A partial sorts before the full segment of the same number; the full one, if there, is the name to report.
    const std::optional<WalName> full = parse_wal_name(later->text.substr(0, k_xlog_fname_len));
    ObjectInfo info;
    s = storage.head(wal_object_key(*full), info);
    if (s.is_ok())
        later = full;
    return s.code() == Code::not_found ? Status::ok() : s;
}

// Whether `timeline` has a full segment before segment number `segno`: its first segment decides.
Status earlier_on_timeline(Storage& storage, uint32_t timeline, uint64_t segno, uint64_t segment_size, bool& earlier)
{
    std::optional<WalName> first;
    Status s = first_wal_object(
        storage, timeline_prefix(timeline), after_history_key(timeline), segment_size,
        [&](const WalName& name) {
            return name.timeline == timeline &&
                (name.kind == WalKind::segment || segment_number(name, segment_size) >= segno);
        },
        first);
    earlier = s.is_ok() && first && first->kind == WalKind::segment && segment_number(*first, segment_size) < segno;
    return s;
}

}  // namespace

Status read_timeline_history(Storage& storage, uint32_t timeline, std::vector<TimelineSwitch>& out)
{
    out.clear();
    const std::string name = history_file_name(timeline);
    std::string text;
    ObjectMeta meta;
    const std::string key = wal_object_key(*parse_wal_name(name));
    Status s = decode_object_fast(
        storage, key,
        [&](const uint8_t* data, size_t len) {
            text.append(reinterpret_cast<const char*>(data), len);
            return text.size() <= k_max_history_bytes
                ? Status::ok()
                : Status::error(Code::corrupt,
                      "history file \"" + name + "\" is larger than " + std::to_string(k_max_history_bytes) + " bytes");
        },
        [&] {
            text.clear();
            return Status::ok();
        },
        meta);
    if (s.code() == Code::not_found)
        return s;
    if (s.is_ok())
        s = parse_timeline_history(text, timeline, out);
    if (!s.is_ok())
        return s.prefix("could not read \"" + storage.location(key) + "\"");
    return Status::ok();
}

namespace {

// The first segment or partial of a timeline whose history left `missing`'s timeline after the segment
// that contains segno (so that its lineage needs that segment whole). Timelines are looked for as
// PostgreSQL does (findNewestTimeLine): history files from timeline + 1 upwards until one is absent.
Status later_on_descendant(
    Storage& storage, const WalName& missing, uint64_t segno, uint64_t segment_size, std::optional<WalName>& later)
{
    later.reset();
    for (uint32_t timeline = missing.timeline + 1; timeline != 0; ++timeline) {
        std::vector<TimelineSwitch> history;
        Status s = read_timeline_history(storage, timeline, history);
        if (s.code() == Code::not_found)
            return Status::ok();
        if (!s.is_ok())
            return s;
        const std::optional<uint64_t> left = switch_point_from(history, missing.timeline);
        if (!left || *left / segment_size <= segno)
            continue;  // not a descendant, or it left before or inside the missing segment
        s = first_wal_object(
            storage, timeline_prefix(timeline), after_history_key(timeline), segment_size,
            [&](const WalName& n) { return n.timeline == timeline && is_segment_or_partial(n); }, later);
        if (!s.is_ok() || later)
            return s;
    }
    return Status::ok();
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
            if (tl.segnos.size() == 1 || tl.segnos.back() >= tl.newest_segno) {
                tl.newest_segno = tl.segnos.back();
                tl.newest_modified = object.modified;
            }
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
            summary.last_segment_time = tl.newest_modified;
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

// Cost at the normal end of the archive (the usual miss): one list of what follows the missing key on its
// timeline (empty), and one GET per newer timeline's history file (the first absent one included), as
// PostgreSQL's own probing makes. A hole costs a few more pages of listing, once.
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
    std::optional<WalName> found;
    Status s = later_on_timeline(storage, missing, segno, segment_size, found);
    if (s.is_ok() && !found)
        s = later_on_descendant(storage, missing, segno, segment_size, found);
    if (!s.is_ok() || !found)
        return s;  // the end of what this timeline, and every timeline that needs it, has archived

    bool earlier = false;
    s = earlier_on_timeline(storage, missing.timeline, segno, segment_size, earlier);
    if (!s.is_ok() || !earlier)
        return s;  // before the timeline began (or before its archiving did): not a hole

    later = found->text;
    return Status::ok();
}

Status read_timeline_forks(Storage& storage, const std::vector<TimelineSummary>& timelines, uint64_t segment_size,
    std::vector<TimelineFork>& out)
{
    out.clear();
    std::map<uint32_t, const TimelineSummary*> by_timeline;
    for (const TimelineSummary& t : timelines)
        by_timeline[t.timeline] = &t;
    for (const TimelineSummary& t : timelines) {
        if (!t.has_history)
            continue;
        std::vector<TimelineSwitch> history;
        Status s = read_timeline_history(storage, t.timeline, history);
        if (!s.is_ok())
            return s;
        if (history.empty())
            continue;
        TimelineFork fork;
        fork.timeline = t.timeline;
        fork.parent = history.back().parent;
        fork.fork_lsn = history.back().switch_lsn;
        fork.last_segment = t.last_segment;
        fork.last_time = t.last_segment_time;
        if (auto p = by_timeline.find(fork.parent); p != by_timeline.end() && !p->second->last_segment.empty()) {
            fork.parent_last_segment = p->second->last_segment;
            fork.parent_last_time = p->second->last_segment_time;
            const std::optional<WalName> last = parse_wal_name(p->second->last_segment);
            // The segment holding the last byte before the fork point is shared history; one after it is not.
            const uint64_t fork_segno = fork.fork_lsn == 0 ? 0 : (fork.fork_lsn - 1) / segment_size;
            fork.parent_continues = last && segment_number(*last, segment_size) > fork_segno;
        }
        out.push_back(fork);
    }
    return Status::ok();
}

std::vector<TimelineFork> live_forks_reached(
    const std::vector<TimelineFork>& forks, uint32_t timeline, uint64_t start_lsn)
{
    std::set<uint32_t> reached = {timeline};
    std::vector<TimelineFork> out;
    for (const TimelineFork& f : forks) {  // in timeline order: a parent is reached before its branches
        if (!reached.count(f.parent) || (f.parent == timeline && f.fork_lsn <= start_lsn))
            continue;  // not on the way, or left the backup's timeline before the backup began
        reached.insert(f.timeline);
        if (f.parent_continues)
            out.push_back(f);
    }
    return out;
}

}  // namespace walvault
