// walvault verify's checks; see verify.h.
#include "core/repo/verify.h"

#include "core/pgdata/wal_file.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/repo/wal_catalog.h"

#include <algorithm>
#include <set>

namespace walvault {
namespace {

std::string segment_key(uint32_t timeline, uint64_t segno, uint64_t segment_size)
{
    const std::string name = segment_file_name(timeline, segno, segment_size);
    return wal_object_key(*parse_wal_name(name));
}

std::string history_key(uint32_t timeline)
{
    return wal_object_key(*parse_wal_name(history_file_name(timeline)));
}

std::string join(const std::set<std::string>& items)
{
    std::string out;
    for (const std::string& s : items)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

// A stretch of missing segments on one timeline, and the backups that need it.
struct Hole {
    uint64_t first = 0;
    uint64_t last = 0;
    std::set<std::string> labels;
    std::string why;  // what the first backup to need it needs: "timeline 1 from ... to ..."
};

}  // namespace

WalInventory inventory_wal(const std::vector<ObjectInfo>& wal, uint64_t segment_size)
{
    WalInventory inv;
    inv.segment_size = segment_size;
    if (!valid_wal_segment_size(segment_size))
        return inv;
    for (const ObjectInfo& o : wal) {
        const auto name = wal_name_of_key(o.key, segment_size);
        if (!name)
            continue;
        switch (name->kind) {
        case WalKind::segment:
            inv.segments[name->timeline].push_back(segment_number(*name, segment_size));
            break;
        case WalKind::partial:
            inv.partials[name->timeline] = true;
            break;
        case WalKind::history:
            inv.history_objects.push_back(name->timeline);
            break;
        case WalKind::backup:
            break;
        }
    }
    for (auto& [timeline, segnos] : inv.segments) {
        std::sort(segnos.begin(), segnos.end());
        segnos.erase(std::unique(segnos.begin(), segnos.end()), segnos.end());
    }
    std::sort(inv.history_objects.begin(), inv.history_objects.end());
    return inv;
}

std::vector<LineageTimeline> backup_lineage(const BackupManifest& manifest, const WalInventory& wal)
{
    std::vector<LineageTimeline> out;
    if (wal.segment_size == 0)
        return out;
    out.push_back({manifest.timeline, manifest.start_lsn / wal.segment_size});
    for (const auto& [timeline, history] : wal.histories) {
        if (timeline == manifest.timeline || history.empty())
            continue;
        const auto left = switch_point_from(history, manifest.timeline);
        if (!left || *left < manifest.start_lsn)
            continue;
        // The timeline begins with the segment that holds the switch from its own parent (PostgreSQL copies
        // the parent's part of that segment into it).
        out.push_back({timeline, history.back().switch_lsn / wal.segment_size});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.timeline < b.timeline; });
    return out;
}

void check_lineages(const std::vector<LineageCheck>& backups, const WalInventory& wal, std::vector<VerifyProblem>& out)
{
    if (wal.segment_size == 0)
        return;
    std::map<std::pair<uint32_t, uint64_t>, Hole> holes;  // (timeline, first missing) -> hole
    auto add_hole = [&](uint32_t timeline, uint64_t first, uint64_t last, const std::string& label,
                        const std::string& why) {
        Hole& h = holes[{timeline, first}];
        h.first = first;
        h.last = std::max(h.last, last);
        h.labels.insert(label);
        if (h.why.empty())
            h.why = why;
    };
    for (const LineageCheck& check : backups) {
        const BackupManifest* m = check.manifest;
        const uint64_t stop_segno = m->stop_lsn > 0 ? (m->stop_lsn - 1) / wal.segment_size : 0;
        std::vector<LineageTimeline> lineage = backup_lineage(*m, wal);
        if (check.standalone)
            lineage.resize(1);  // its own timeline, which backup_lineage() puts first
        for (const LineageTimeline& stretch : lineage) {
            static const std::vector<uint64_t> k_none;
            const auto it = wal.segments.find(stretch.timeline);
            const std::vector<uint64_t>& have = it == wal.segments.end() ? k_none : it->second;
            const bool own = stretch.timeline == m->timeline;
            uint64_t last = have.empty() ? 0 : have.back();
            if (own)
                last = check.standalone ? stop_segno : std::max(last, stop_segno);
            else if (have.empty() || last < stretch.first_segno)
                continue;  // a timeline that has no complete segment yet: nothing to be continuous
            const std::string why = "timeline " + std::to_string(stretch.timeline) + " from " +
                segment_file_name(stretch.timeline, stretch.first_segno, wal.segment_size) +
                (own ? " (the backup's start)" : " (where the timeline begins)") + " to " +
                segment_file_name(stretch.timeline, last, wal.segment_size) +
                (own && last == stop_segno && (check.standalone || have.empty() || have.back() <= stop_segno)
                        ? " (the backup's stop)"
                        : " (the newest segment)");
            // Walk the archived segments from first_segno to last and note each run that is absent.
            uint64_t expect = stretch.first_segno;
            for (auto seg = std::lower_bound(have.begin(), have.end(), stretch.first_segno);
                 seg != have.end() && *seg <= last; ++seg) {
                if (*seg > expect)
                    add_hole(stretch.timeline, expect, *seg - 1, m->label, why);
                expect = *seg + 1;
            }
            if (expect <= last)
                add_hole(stretch.timeline, expect, last, m->label, why);
        }
    }
    for (const auto& [where, h] : holes) {
        const uint32_t timeline = where.first;
        const uint64_t count = h.last - h.first + 1;
        std::string what = count == 1
            ? "WAL segment " + segment_file_name(timeline, h.first, wal.segment_size) + " is missing"
            : "WAL segments " + segment_file_name(timeline, h.first, wal.segment_size) + " .. " +
                segment_file_name(timeline, h.last, wal.segment_size) + " (" + std::to_string(count) +
                " segments) are missing";
        out.push_back({segment_key(timeline, h.first, wal.segment_size), what,
            std::string(h.labels.size() == 1 ? "backup " : "backups ") + join(h.labels) +
                (h.labels.size() == 1 ? " needs " : " need ") + h.why});
    }
}

void check_history_chain(const WalInventory& wal, std::vector<VerifyProblem>& out)
{
    std::set<uint32_t> with_history(wal.history_objects.begin(), wal.history_objects.end());
    std::set<uint32_t> with_wal;
    for (const auto& [timeline, segnos] : wal.segments)
        if (!segnos.empty())
            with_wal.insert(timeline);
    for (const auto& [timeline, has] : wal.partials)
        if (has)
            with_wal.insert(timeline);
    for (const uint32_t timeline : with_wal)
        if (timeline > 1 && !with_history.count(timeline))
            out.push_back(
                {history_key(timeline), "timeline " + std::to_string(timeline) + " has WAL but no history file",
                    "every timeline above 1 has its history file: recovery reads it to follow the timeline"});
    for (const auto& [timeline, history] : wal.histories) {
        if (history.empty())
            continue;
        const uint32_t parent = history.back().parent;
        if (parent <= 1)
            continue;
        const auto p = wal.histories.find(parent);
        if (p == wal.histories.end()) {
            if (!with_history.count(parent))  // one that is there but does not parse is a problem already
                out.push_back({history_key(parent),
                    "timeline " + std::to_string(timeline) + "'s history names parent timeline " +
                        std::to_string(parent) + ", which has no history file",
                    "the history file of every ancestor timeline above 1"});
            continue;
        }
        bool agrees = p->second.size() + 1 == history.size();
        for (size_t i = 0; agrees && i < p->second.size(); ++i)
            agrees = p->second[i].parent == history[i].parent && p->second[i].switch_lsn == history[i].switch_lsn;
        if (!agrees)
            out.push_back({history_key(timeline),
                "timeline " + std::to_string(timeline) + "'s history does not begin with its parent timeline " +
                    std::to_string(parent) + "'s history",
                "the history of timeline " + std::to_string(parent) + " (" + history_file_name(parent) +
                    ") followed by one line for the switch from it"});
    }
}

void check_backup_listing(const BackupManifest& manifest, const std::vector<ObjectInfo>& objects,
    std::vector<VerifyProblem>& problems, std::vector<std::string>& notices)
{
    std::map<std::string, uint64_t> listed;
    for (const ObjectInfo& o : objects)
        listed.emplace(o.key, o.size);
    std::set<std::string> expected;
    auto expect = [&](const std::string& key, uint64_t stored_size, const std::string& what) {
        expected.insert(key);
        const auto it = listed.find(key);
        if (it == listed.end())
            problems.push_back({key, "backup object is missing",
                "backup.json of backup " + manifest.label + " lists it (" + what + ")"});
        else if (it->second != stored_size)
            problems.push_back({key, "backup object has " + std::to_string(it->second) + " bytes",
                std::to_string(stored_size) + " bytes, as backup.json of backup " + manifest.label + " records (" +
                    what + ")"});
    };
    for (const BackupFile& f : manifest.files) {
        const std::string key = backup_file_key(manifest.label, f.path);
        if (f.parts.empty()) {
            expect(key, f.stored_size, "file " + f.path);
            continue;
        }
        for (size_t i = 0; i < f.parts.size(); ++i)
            expect(backup_part_key(key, i), f.parts[i].stored_size, "part " + std::to_string(i) + " of file " + f.path);
    }
    const std::string data_prefix = backup_prefix(manifest.label) + k_backup_data_dir;
    uint64_t extra = 0;
    std::string first_extra;
    for (const ObjectInfo& o : objects)
        if (o.key.compare(0, data_prefix.size(), data_prefix) == 0 && !expected.count(o.key)) {
            if (extra++ == 0)
                first_extra = o.key;
        }
    if (extra > 0)
        notices.push_back("backup " + manifest.label + " has " + std::to_string(extra) +
            " data object(s) that backup.json does not name, such as \"" + first_extra +
            "\" (restore never reads them; backup-delete removes them with the backup)");
}

void verify_object(
    Decoder& decoder, Storage& storage, const ObjectCheck& check, std::vector<VerifyProblem>& out, std::string* content)
{
    uint8_t header[k_wal_long_header_bytes];
    size_t header_len = 0;
    auto sink = [&](const uint8_t* data, size_t len) -> Status {
        if (header_len < sizeof(header)) {
            const size_t n = std::min(len, sizeof(header) - header_len);
            std::copy(data, data + n, header + header_len);
            header_len += n;
        }
        if (check.keep_content && content != nullptr)
            content->append(reinterpret_cast<const char*>(data), len);
        return Status::ok();
    };
    auto restart = [&]() -> Status {
        header_len = 0;
        if (content != nullptr)
            content->clear();
        return Status::ok();
    };
    ObjectMeta meta;
    Status s = decode_object_fast(decoder, storage, check.key, sink, restart, meta);
    if (!s.is_ok()) {
        out.push_back({check.key, s.code() == Code::not_found ? "object vanished while verify ran" : s.message(),
            "an object that decodes and matches its own checksums"});
        return;
    }
    if (meta.name != check.name)
        out.push_back({check.key, "object holds \"" + meta.name + "\"", "\"" + check.name + "\", as its key says"});
    if (check.exact_length ? meta.length != check.length : meta.length > check.length)
        out.push_back({check.key, "object holds " + std::to_string(meta.length) + " bytes",
            (check.exact_length ? "" : "at most ") + std::to_string(check.length) + " bytes"});
    if (!check.sha256.empty() && meta.sha256 != check.sha256)
        out.push_back({check.key, "object's sha256 is " + meta.sha256, check.sha256 + ", as backup.json records"});
    if (check.wal_name != nullptr) {
        WalPageHeader h;
        Status hs = parse_wal_page_header(header, header_len, h);
        if (hs.is_ok())
            hs = check_wal_page_header(h, *check.wal_name, check.system_identifier, check.segment_size, "segment");
        if (!hs.is_ok())
            out.push_back({check.key, hs.message(),
                "segment " + check.wal_name->text + " of database system " + std::to_string(check.system_identifier)});
    }
}

}  // namespace walvault
