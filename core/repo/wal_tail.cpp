// The newest end of the archived WAL. Every listing here is either one key long (start_after skips what
// lies before, max_keys stops the store after one) or one wal/<TLI><XLOGID>/ directory, so the cost does
// not grow with the archive: on a repository of 50,000 segments, a few dozen small list calls
// (docs/benchmarks.md, "walvault check").
#include "core/repo/wal_tail.h"

#include "core/repo/layout.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>

namespace walvault {
namespace {

constexpr uint64_t k_xlog_id_span = 0x100000000ULL;  // bytes of WAL per xlogid: one wal/ directory
constexpr uint32_t k_max_xlog_id = 0xFFFFFFFFU;
constexpr size_t k_hex_len = 8;                                 // a timeline or an xlogid in a key
constexpr size_t k_wal_prefix_len = 4;                          // "wal/"
constexpr size_t k_dir_len = k_wal_prefix_len + 2 * k_hex_len;  // "wal/0000000100000000"

std::string hex8(uint32_t v)
{
    char buf[k_hex_len + 1];
    std::snprintf(buf, sizeof(buf), "%08X", v);
    return buf;
}

std::optional<uint32_t> parse_hex8(std::string_view text)
{
    if (text.size() != k_hex_len)
        return std::nullopt;
    for (char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return std::nullopt;
    uint32_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v, 16);
    return v;
}

// "wal/00000001": every key of a timeline starts with it.
std::string timeline_prefix(uint32_t timeline)
{
    return std::string(k_wal_prefix) + hex8(timeline);
}

// The xlogid of a key in a timeline directory "wal/<TLI><XLOGID>/...", nullopt for any other key.
std::optional<uint32_t> xlog_id_of_key(std::string_view key)
{
    if (key.size() <= k_dir_len || key[k_dir_len] != '/')
        return std::nullopt;
    return parse_hex8(key.substr(k_wal_prefix_len + k_hex_len, k_hex_len));
}

// The first directory of `timeline` at or after xlogid `from`: one list call of one key (more only if
// stray keys that are not in a directory lie in the way).
Status first_directory_from(Storage& storage, uint32_t timeline, uint32_t from, std::optional<uint32_t>& out)
{
    out.reset();
    const std::string prefix = timeline_prefix(timeline);
    std::string after = prefix + hex8(from);  // below every key of that directory, above those before it
    std::vector<ObjectInfo> page;
    for (;;) {
        Status s = storage.list(prefix, ListRange{after, 1}, page);
        if (!s.is_ok() || page.empty())
            return s;
        if (const std::optional<uint32_t> id = xlog_id_of_key(page.front().key); id && *id >= from) {
            out = id;
            return Status::ok();
        }
        after = page.front().key;
    }
}

// The newest directory of `timeline` with an xlogid in [low, high], knowing that low is one: a binary
// search where each probe returns the first directory at or after its midpoint, at most 32 probes.
Status newest_directory(Storage& storage, uint32_t timeline, uint32_t low, uint32_t high, uint32_t& out)
{
    while (low < high) {
        const uint32_t mid = low + static_cast<uint32_t>((static_cast<uint64_t>(high) - low + 1) / 2);
        std::optional<uint32_t> found;
        Status s = first_directory_from(storage, timeline, mid, found);
        if (!s.is_ok())
            return s;
        if (found && *found <= high)
            low = *found;
        else
            high = mid - 1;
    }
    out = low;
    return Status::ok();
}

uint64_t segments_per_log(uint64_t segment_size)
{
    return k_xlog_id_span / segment_size;
}

}  // namespace

Status list_wal_timelines(Storage& storage, std::vector<uint32_t>& out)
{
    out.clear();
    std::string after;
    std::vector<ObjectInfo> page;
    for (;;) {
        Status s = storage.list(k_wal_prefix, ListRange{after, 1}, page);
        if (!s.is_ok() || page.empty())
            return s;
        const std::string& key = page.front().key;
        const std::optional<uint32_t> timeline = key.size() > k_wal_prefix_len + k_hex_len
            ? parse_hex8(key.substr(k_wal_prefix_len, k_hex_len))
            : std::nullopt;
        if (!timeline) {
            after = key;  // a stray key: step over it
            continue;
        }
        out.push_back(*timeline);
        if (*timeline == k_max_xlog_id)
            return Status::ok();
        // '~' sorts above '.', '/' and every hex digit: past every key of this timeline.
        after = timeline_prefix(*timeline) + "~";
    }
}

Status newest_segment(Storage& storage, uint32_t timeline, uint64_t segment_size, std::optional<ArchivedSegment>& out)
{
    out.reset();
    if (!valid_wal_segment_size(segment_size))
        return Status::error(Code::invalid, "invalid WAL segment size " + std::to_string(segment_size) + " bytes");
    std::optional<uint32_t> first;
    Status s = first_directory_from(storage, timeline, 0, first);
    if (!s.is_ok() || !first)
        return s;
    uint32_t high = k_max_xlog_id;
    std::vector<ObjectInfo> objects;
    for (;;) {
        uint32_t dir = 0;
        s = newest_directory(storage, timeline, *first, high, dir);
        if (!s.is_ok())
            return s;
        s = storage.list(timeline_prefix(timeline) + hex8(dir) + "/", objects);
        if (!s.is_ok())
            return s;
        for (const ObjectInfo& object : objects) {
            const std::optional<WalName> name = wal_name_of_key(object.key, segment_size);
            if (!name || name->kind != WalKind::segment || name->timeline != timeline)
                continue;
            const uint64_t segno = segment_number(*name, segment_size);
            if (!out || segno > out->segno)
                out = ArchivedSegment{name->text, segno, object.modified};
        }
        if (out || dir == *first)
            return Status::ok();
        high = dir - 1;  // a directory of partials or .backup files only: look below it
    }
}

Status find_wal_lineage(Storage& storage, uint32_t timeline, uint64_t start_lsn, uint64_t segment_size,
    const std::vector<uint32_t>& timelines, WalLineage& out)
{
    out = WalLineage{};
    if (!valid_wal_segment_size(segment_size))
        return Status::error(Code::invalid, "invalid WAL segment size " + std::to_string(segment_size) + " bytes");
    std::vector<uint32_t> newest_first = timelines;
    std::sort(newest_first.begin(), newest_first.end(), std::greater<>());
    uint32_t last = timeline;
    std::vector<TimelineSwitch> history;
    for (uint32_t t : newest_first) {
        if (t <= timeline)
            break;
        Status s = read_timeline_history(storage, t, history);
        if (s.code() == Code::not_found)
            continue;  // without its history file nothing says where t came from
        if (!s.is_ok())
            return s;
        const std::optional<uint64_t> left = switch_point_from(history, timeline);
        if (left && *left > start_lsn) {
            last = t;
            break;
        }
    }
    uint64_t begin = start_lsn / segment_size;
    if (last != timeline) {
        for (const TimelineSwitch& sw : history) {
            if (sw.parent < timeline)
                continue;  // ancestors from before the backup's timeline
            const uint64_t switch_segno = sw.switch_lsn / segment_size;
            out.stretches.push_back(LineageStretch{sw.parent, begin, switch_segno});
            begin = std::max(begin, switch_segno);
        }
    }
    std::optional<ArchivedSegment> newest;
    Status s = newest_segment(storage, last, segment_size, newest);
    if (!s.is_ok())
        return s;
    out.stretches.push_back(LineageStretch{last, begin, newest ? newest->segno + 1 : begin});
    out.newest = newest;
    return Status::ok();
}

Status find_stretch_gaps(Storage& storage, const LineageStretch& stretch, uint64_t segment_size,
    std::vector<WalGap>& gaps, uint64_t& segments)
{
    gaps.clear();
    segments = 0;
    if (!valid_wal_segment_size(segment_size))
        return Status::error(Code::invalid, "invalid WAL segment size " + std::to_string(segment_size) + " bytes");
    if (stretch.end_segno <= stretch.first_segno)
        return Status::ok();
    const uint64_t per_log = segments_per_log(segment_size);
    std::vector<uint64_t> found;
    std::vector<ObjectInfo> objects;
    for (uint64_t log = stretch.first_segno / per_log; log <= (stretch.end_segno - 1) / per_log; ++log) {
        Status s = storage.list(timeline_prefix(stretch.timeline) + hex8(static_cast<uint32_t>(log)) + "/", objects);
        if (!s.is_ok())
            return s;
        for (const ObjectInfo& object : objects) {
            const std::optional<WalName> name = wal_name_of_key(object.key, segment_size);
            if (!name || name->kind != WalKind::segment || name->timeline != stretch.timeline)
                continue;
            const uint64_t segno = segment_number(*name, segment_size);
            if (segno >= stretch.first_segno && segno < stretch.end_segno)
                found.push_back(segno);
        }
    }
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    segments = found.size();
    uint64_t expected = stretch.first_segno;
    auto gap = [&](uint64_t from, uint64_t to) {  // [from, to)
        gaps.push_back(WalGap{segment_file_name(stretch.timeline, from, segment_size),
            segment_file_name(stretch.timeline, to - 1, segment_size), to - from});
    };
    for (uint64_t segno : found) {
        if (segno > expected)
            gap(expected, segno);
        expected = segno + 1;
    }
    if (expected < stretch.end_segno)
        gap(expected, stretch.end_segno);
    return Status::ok();
}

}  // namespace walvault
