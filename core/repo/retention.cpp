// Retention planning; the rules are in retention.h.
#include "core/repo/retention.h"

#include "core/common/setting_def.h"
#include "core/common/utc_time.h"
#include "core/repo/layout.h"
#include "core/repo/wal_catalog.h"
#include "core/wal/wal_name.h"

#include <algorithm>
#include <optional>
#include <set>

namespace walvault {
namespace {

std::string ordinal(int64_t n)
{
    const int64_t tens = n % 100;
    const char* suffix = (tens >= 11 && tens <= 13) ? "th"
        : n % 10 == 1                               ? "st"
        : n % 10 == 2                               ? "nd"
        : n % 10 == 3                               ? "rd"
                                                    : "th";
    return std::to_string(n) + suffix;
}

std::string ago(int64_t now, int64_t then)
{
    return format_setting_quantity(std::max<int64_t>(0, now - then), SettingUnit::s) + " ago";
}

int64_t time_or(const std::string& text, int64_t fallback)
{
    int64_t t = 0;
    return parse_utc_time(text, t).is_ok() ? t : fallback;
}

// Complete backups, newest last: by start LSN, then timeline, then stop time.
std::vector<size_t> complete_in_order(const std::vector<BackupRecord>& backups)
{
    std::vector<size_t> order;
    for (size_t i = 0; i < backups.size(); i++)
        if (backups[i].complete)
            order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const BackupManifest& x = backups[a].manifest;
        const BackupManifest& y = backups[b].manifest;
        if (x.start_lsn != y.start_lsn)
            return x.start_lsn < y.start_lsn;
        if (x.timeline != y.timeline)
            return x.timeline < y.timeline;
        return x.stop_time < y.stop_time;
    });
    return order;
}

void judge_incomplete(const ExpireInput& in, const BackupRecord& r, BackupVerdict& v, ExpirePlan& out)
{
    if (r.lease) {
        const BackupLease& l = *r.lease;
        const std::string writer =
            (l.host.empty() ? "" : " on " + l.host) + (l.pid ? " (pid " + std::to_string(l.pid) + ")" : "");
        if (l.alive(in.now)) {
            v.keep = true;
            v.writer_alive = true;
            v.reasons.push_back("being written" + writer + ": lease renewed " + ago(in.now, l.last_seen()));
            out.writers.push_back("backup \"" + r.label + "\" is being written" + writer + " (lease renewed " +
                ago(in.now, l.last_seen()) + ", timeout " + format_setting_quantity(l.timeout, SettingUnit::s) + ")");
            return;
        }
        v.reasons.push_back("incomplete; its writer" + writer + " is gone: the lease was last renewed at " +
            format_utc_time(l.last_seen()) + ", more than its timeout of " +
            format_setting_quantity(l.timeout, SettingUnit::s) + " ago");
        out.notices.push_back("breaking the lapsed lease of backup \"" + r.label + "\" (last renewed " +
            format_utc_time(l.last_seen()) + ")");
        return;
    }
    const int64_t started = std::max(time_or(r.started, 0), r.started_modified);
    if (in.now - started <= in.lease_timeout) {
        v.keep = true;
        v.writer_alive = true;
        v.reasons.push_back("incomplete, started " + ago(in.now, started) + " and has no lease yet");
        out.writers.push_back("backup \"" + r.label + "\" started " + ago(in.now, started) +
            " and may still be written (no lease yet; taken for gone after lease_timeout, " +
            format_setting_quantity(in.lease_timeout, SettingUnit::s) + ")");
        return;
    }
    v.reasons.push_back(std::string("incomplete, with no writer: ") +
        (started > 0 ? "started at " + format_utc_time(started) : "its start is unknown") +
        ", and no lease renewed within lease_timeout");
}

struct Need {
    std::map<uint32_t, uint64_t> lineage_from;                              // timeline -> first segment number kept
    std::map<uint32_t, std::vector<std::pair<uint64_t, uint64_t>>> ranges;  // standalone [first, last]

    bool keeps(uint32_t timeline, uint64_t segno) const
    {
        if (auto it = lineage_from.find(timeline); it != lineage_from.end() && segno >= it->second)
            return true;
        if (auto it = ranges.find(timeline); it != ranges.end())
            for (const auto& [lo, hi] : it->second)
                if (segno >= lo && segno <= hi)
                    return true;
        return false;
    }
    bool reaches(uint32_t timeline) const { return lineage_from.count(timeline) || ranges.count(timeline); }
};

Need wal_needed(const ExpireInput& in, const ExpirePlan& plan)
{
    Need need;
    for (const BackupVerdict& v : plan.backups) {
        if (!v.keep || !v.record->complete)
            continue;
        const BackupManifest& m = v.record->manifest;
        const uint64_t first = m.start_lsn / in.segment_size;
        if (v.standalone) {
            // And the segment after the stop: recovery reads ahead of replay past the backup's end (and past
            // the switch pg_backup_stop makes) before it stops at consistency, and a later segment missing
            // while newer ones exist is a hole to wal-fetch.
            const uint64_t last = m.stop_lsn > 0 ? (m.stop_lsn - 1) / in.segment_size : first;
            need.ranges[m.timeline].push_back({first, std::max(first, last) + 1});
            continue;
        }
        auto add = [&](uint32_t timeline) {
            auto [it, fresh] = need.lineage_from.emplace(timeline, first);
            if (!fresh)
                it->second = std::min(it->second, first);
        };
        add(m.timeline);
        for (const auto& [timeline, history] : in.histories)
            if (const auto at = switch_point_from(history, m.timeline); at && *at >= m.start_lsn)
                add(timeline);
    }
    return need;
}

}  // namespace

Status plan_expire(const ExpireInput& in, ExpirePlan& out)
{
    out = ExpirePlan{};
    const RetentionPolicy& p = in.policy;
    if (!p.is_set())
        return Status::error(Code::invalid, "no retention policy is set",
            "Set retain_full (the number of complete backups to keep) or retain_window (how far back every "
            "point in time stays restorable, such as 14d), or both: as --retain-full/--retain-window, "
            "WALVAULT_RETAIN_FULL/WALVAULT_RETAIN_WINDOW or in the config file.");
    const std::vector<BackupRecord>& backups = *in.backups;
    out.backups.resize(backups.size());
    for (size_t i = 0; i < backups.size(); i++)
        out.backups[i].record = &backups[i];

    // Complete backups: the rules that keep them.
    const std::vector<size_t> order = complete_in_order(backups);
    auto keep = [&](size_t i, const std::string& why) {
        out.backups[i].keep = true;
        out.backups[i].reasons.push_back(why);
    };
    if (!order.empty()) {
        keep(order.back(), "the newest complete backup (always kept)");
        size_t latest_stop = order.back();
        for (size_t i : order)
            if (backups[i].manifest.stop_time > backups[latest_stop].manifest.stop_time)
                latest_stop = i;
        if (latest_stop != order.back())
            keep(latest_stop, "the complete backup that finished last (always kept)");
    }
    if (p.retain_full > 0) {
        int64_t rank = 0;
        for (auto it = order.rbegin(); it != order.rend(); ++it) {
            rank++;
            if (rank <= p.retain_full)
                keep(*it, "retain_full = " + std::to_string(p.retain_full) + ": the " + ordinal(rank) + " newest");
        }
    }
    if (p.retain_window > 0) {
        const int64_t start = in.now - p.retain_window;
        std::optional<size_t> anchor;
        for (size_t i : order) {
            const int64_t stop = time_or(backups[i].manifest.stop_time, in.now);
            if (stop >= start)
                keep(i,
                    "retain_window = " + format_setting_quantity(p.retain_window, SettingUnit::s) +
                        ": finished within the window (after " + format_utc_time(start) + ")");
            else if (!anchor || stop >= time_or(backups[*anchor].manifest.stop_time, in.now))
                anchor = i;
        }
        if (anchor)
            keep(*anchor,
                "retain_window = " + format_setting_quantity(p.retain_window, SettingUnit::s) +
                    ": the newest backup that finished before the window's start (" + format_utc_time(start) +
                    "), needed to restore to it");
    }
    for (size_t i : order) {
        BackupVerdict& v = out.backups[i];
        const std::optional<BackupPin>& pin = backups[i].pin;
        if (!pin)
            continue;
        if (!pin->active(in.now)) {
            if (!v.keep)
                out.notices.push_back(
                    "the pin of backup \"" + backups[i].label + "\" ended at " + format_utc_time(pin->until));
            continue;
        }
        const bool only_pinned = !v.keep;
        keep(i,
            "pinned" + (pin->until ? " until " + format_utc_time(pin->until) : std::string()) +
                (pin->reason.empty() ? "" : ": " + pin->reason) + (pin->standalone ? " (with its own WAL only)" : ""));
        v.standalone = only_pinned && pin->standalone;
    }
    for (size_t i : order) {
        BackupVerdict& v = out.backups[i];
        if (v.keep)
            continue;
        if (p.retain_full > 0)
            v.reasons.push_back("not among the newest " + std::to_string(p.retain_full) + " (retain_full)");
        if (p.retain_window > 0)
            v.reasons.push_back("finished at " + backups[i].manifest.stop_time +
                ", before the window and not needed to restore to its start (retain_window)");
    }
    for (size_t i = 0; i < backups.size(); i++)
        if (!backups[i].complete)
            judge_incomplete(in, backups[i], out.backups[i], out);
    for (const BackupVerdict& v : out.backups) {
        if (v.keep)
            continue;
        out.backups_removed++;
        out.backup_objects += v.record->objects;
        out.backup_bytes += v.record->stored_bytes;
    }

    // WAL. With no complete backup nothing anchors it: all of it stays.
    if (order.empty()) {
        if (!in.wal->empty())
            out.notices.push_back("the repository has no complete backup: all WAL is kept");
        return Status::ok();
    }
    const Need need = wal_needed(in, out);
    std::set<uint32_t> unknown_lineage;  // timelines above 1 with WAL but no history: kept whole
    std::map<uint32_t, WalExpiry> by_timeline;
    std::map<uint32_t, const ObjectInfo*> history_of;
    std::set<uint32_t> keeps_something;
    for (const ObjectInfo& o : *in.wal) {
        const std::optional<WalName> name = wal_name_of_key(o.key, in.segment_size);
        if (!name)
            continue;  // not a WAL object: not expire's to judge
        if (name->kind == WalKind::history) {
            history_of[name->timeline] = &o;
            continue;
        }
        const uint32_t tli = name->timeline;
        if (tli > 1 && !in.histories.count(tli)) {
            unknown_lineage.insert(tli);
            keeps_something.insert(tli);
            continue;
        }
        WalExpiry& e = by_timeline[tli];
        e.timeline = tli;
        const std::string file = name->text;
        if (need.keeps(tli, segment_number(*name, in.segment_size))) {
            keeps_something.insert(tli);
            if (e.first_kept.empty() || archive_order_less(file, e.first_kept))
                e.first_kept = file;
            continue;
        }
        out.wal_keys.push_back(o.key);
        out.wal_bytes += o.size;
        e.objects++;
        e.bytes += o.size;
        if (e.first.empty() || archive_order_less(file, e.first))
            e.first = file;
        if (e.last.empty() || archive_order_less(e.last, file))
            e.last = file;
    }
    // Streamed prefixes (walvault receive) go with their segment's number, and at once where the complete
    // segment is there (the receiver removes them itself unless it was stopped in between).
    constexpr uint64_t k_segments_span = 0x100000000ULL;  // bytes of WAL per wal/ directory (xlogid)
    std::set<std::string> complete;
    for (const ObjectInfo& o : *in.wal)
        if (const auto name = wal_name_of_key(o.key, in.segment_size); name && name->kind == WalKind::segment)
            complete.insert(name->text);
    for (const ObjectInfo& o : *in.wal) {
        const std::optional<StreamPrefix> prefix = stream_prefix_of_key(o.key);
        if (!prefix || prefix->segment.seg >= k_segments_span / in.segment_size)
            continue;
        const uint32_t tli = prefix->segment.timeline;
        const bool superseded = complete.count(prefix->segment.text) > 0;
        if (!superseded &&
            (unknown_lineage.count(tli) || (tli > 1 && !in.histories.count(tli)) ||
                need.keeps(tli, segment_number(prefix->segment, in.segment_size)))) {
            keeps_something.insert(tli);
            continue;
        }
        out.wal_keys.push_back(o.key);
        out.wal_bytes += o.size;
        WalExpiry& e = by_timeline[tli];
        e.timeline = tli;
        e.objects++;
        e.bytes += o.size;
    }
    for (uint32_t tli : unknown_lineage)
        out.notices.push_back("timeline " + std::to_string(tli) +
            " has WAL but no history file, so which backups reach it is unknown: all its WAL is kept");
    // History files: kept for every timeline that keeps anything or that a kept backup reaches, and for
    // their ancestors.
    std::set<uint32_t> needed_history;
    auto need_lineage = [&](uint32_t tli) {
        needed_history.insert(tli);
        if (auto h = in.histories.find(tli); h != in.histories.end())
            for (const TimelineSwitch& sw : h->second)
                needed_history.insert(sw.parent);
    };
    for (uint32_t tli : keeps_something)
        need_lineage(tli);
    for (const auto& [tli, from] : need.lineage_from)
        need_lineage(tli);
    for (const auto& [tli, ranges] : need.ranges)
        need_lineage(tli);
    for (const auto& [tli, o] : history_of) {
        if (needed_history.count(tli))
            continue;
        out.history_keys.push_back(o->key);
        out.wal_bytes += o->size;
        WalExpiry& e = by_timeline[tli];
        e.timeline = tli;
        e.history = true;
    }
    for (auto& [tli, e] : by_timeline) {
        e.whole = !keeps_something.count(tli) && !need.reaches(tli);
        if (e.objects > 0 || e.history)
            out.wal.push_back(e);
    }
    std::sort(out.wal_keys.begin(), out.wal_keys.end());
    return Status::ok();
}

}  // namespace walvault
