// walvault list: what the repository holds — backups (complete or not, with their start and stop points
// and sizes) and the archived WAL per timeline with any gaps. --json prints the same as one JSON document
// whose fields docs/restore.md documents; scripts should use it rather than the text.
#include "tool/commands/commands.h"

#include "core/common/utc_time.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/wal_catalog.h"
#include "core/repo/wal_stream.h"
#include "core/wal/wal_name.h"
#include "tool/progress.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>

namespace walvault {
namespace {

constexpr const char* k_command = "list";
constexpr int k_list_format = 1;  // "format" of the --json document

struct ListContext {
    CommonOptions common;
    bool json = false;
};

nlohmann::json backup_json(const BackupRecord& r)
{
    nlohmann::json j = {
        {"label", r.label}, {"status", r.complete ? "complete" : "incomplete"}, {"stored_size", r.stored_bytes}};
    j["pin"] = nullptr;
    if (r.pin)
        j["pin"] = {{"pinned_at", format_utc_time(r.pin->pinned_at)},
            {"until", r.pin->until ? nlohmann::json(format_utc_time(r.pin->until)) : nlohmann::json(nullptr)},
            {"reason", r.pin->reason}, {"wal", r.pin->standalone ? "standalone" : "lineage"},
            {"active", r.pin->active(std::time(nullptr))}};
    if (!r.complete) {
        j["lease_renewed"] = r.lease ? nlohmann::json(format_utc_time(r.lease->last_seen())) : nlohmann::json(nullptr);
        j["start_time"] = r.started.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.started);
        return j;
    }
    const BackupManifest& m = r.manifest;
    j["start_time"] = m.start_time;
    j["stop_time"] = m.stop_time;
    j["start_lsn"] = format_lsn(m.start_lsn);
    j["stop_lsn"] = format_lsn(m.stop_lsn);
    j["timeline"] = m.timeline;
    j["start_wal"] = segment_file_name(m.timeline, m.start_lsn / m.wal_segment_size, m.wal_segment_size);
    j["stop_wal"] = segment_file_name(m.timeline, (m.stop_lsn - 1) / m.wal_segment_size, m.wal_segment_size);
    j["pg_version_num"] = m.pg_version_num;
    j["original_size"] = m.original_size();
    j["files"] = m.files.size();
    j["tablespaces"] = m.tablespaces.size();
    j["compression"] = m.compression;
    return j;
}

const TimelineFork* fork_of(const std::vector<TimelineFork>& forks, uint32_t timeline)
{
    for (const TimelineFork& f : forks)
        if (f.timeline == timeline)
            return &f;
    return nullptr;
}

nlohmann::json timeline_json(const TimelineSummary& t, const TimelineFork* fork)
{
    nlohmann::json gaps = nlohmann::json::array();
    for (const WalGap& g : t.gaps)
        gaps.push_back(
            {{"first_missing", g.first_missing}, {"last_missing", g.last_missing}, {"segments", g.segments}});
    auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
    return {{"timeline", t.timeline}, {"history", t.has_history}, {"first_segment", or_null(t.first_segment)},
        {"last_segment", or_null(t.last_segment)}, {"segments", t.segments}, {"stored_size", t.stored_bytes},
        {"partials", t.partials}, {"gaps", gaps},
        {"parent", fork != nullptr ? nlohmann::json(fork->parent) : nlohmann::json(nullptr)},
        {"fork_lsn", fork != nullptr ? nlohmann::json(format_lsn(fork->fork_lsn)) : nlohmann::json(nullptr)},
        {"parent_continues", fork != nullptr && fork->parent_continues},
        {"last_segment_time",
            t.last_segment_time > 0 ? nlohmann::json(format_utc_time(t.last_segment_time)) : nlohmann::json(nullptr)}};
}

void print_text(const Storage& storage, const RepoIdentity& id, const std::vector<BackupRecord>& backups,
    const std::vector<TimelineSummary>& timelines, const std::vector<TimelineFork>& forks)
{
    std::printf("repository %s (database system %llu, PostgreSQL %d, WAL segment size %s)\n\n",
        storage.location().c_str(), static_cast<unsigned long long>(id.system_identifier), id.pg_major,
        format_bytes(id.wal_segment_size).c_str());
    std::printf("backups:\n");
    if (backups.empty())
        std::printf("  (none)\n");
    for (const BackupRecord& r : backups) {
        if (!r.complete) {
            std::printf("  %-20s incomplete  started %s, %s stored so far%s\n", r.label.c_str(),
                r.started.empty() ? "?" : r.started.c_str(), format_bytes(r.stored_bytes).c_str(),
                r.lease ? (", lease renewed " + format_utc_time(r.lease->last_seen())).c_str() : "");
            continue;
        }
        const BackupManifest& m = r.manifest;
        std::printf("  %-20s complete    %s .. %s  LSN %s .. %s  timeline %u  %s -> %s\n", r.label.c_str(),
            m.start_time.c_str(), m.stop_time.c_str(), format_lsn(m.start_lsn).c_str(), format_lsn(m.stop_lsn).c_str(),
            m.timeline, format_bytes(m.original_size()).c_str(), format_bytes(r.stored_bytes).c_str());
        if (r.pin)
            std::printf("    %s%s%s%s\n", r.pin->active(std::time(nullptr)) ? "PINNED" : "pin ended",
                r.pin->until ? (" (until " + format_utc_time(r.pin->until) + ")").c_str() : "",
                r.pin->standalone ? ", with its own WAL only" : "",
                r.pin->reason.empty() ? "" : (": " + r.pin->reason).c_str());
    }
    std::printf("\nWAL:\n");
    if (timelines.empty())
        std::printf("  (none)\n");
    for (const TimelineSummary& t : timelines) {
        const std::string last_time =
            t.last_segment_time > 0 ? " (archived " + format_utc_time(t.last_segment_time) + ")" : "";
        std::printf("  timeline %u: %s .. %s%s, %llu segments%s%s\n", t.timeline,
            t.first_segment.empty() ? "-" : t.first_segment.c_str(),
            t.last_segment.empty() ? "-" : t.last_segment.c_str(), last_time.c_str(),
            static_cast<unsigned long long>(t.segments), t.has_history ? ", history file" : "",
            t.partials.empty() ? "" : (", " + std::to_string(t.partials.size()) + " partial").c_str());
        if (const TimelineFork* f = fork_of(forks, t.timeline)) {
            std::printf("    branched from timeline %u at %s\n", f->parent, format_lsn(f->fork_lsn).c_str());
            if (f->parent_continues)
                std::printf("    FORK: timeline %u went on past that point (to %s): two live branches; restore "
                            "needs --target-timeline to choose\n",
                    f->parent, f->parent_last_segment.c_str());
        }
        for (const WalGap& g : t.gaps)
            std::printf("    GAP: %s .. %s missing (%llu segments)\n", g.first_missing.c_str(), g.last_missing.c_str(),
                static_cast<unsigned long long>(g.segments));
    }
}

// The streamed position of each slot walvault receive streams from.
void print_received(const std::vector<ReceiveState>& received)
{
    if (received.empty())
        return;
    std::printf("\nStreamed WAL (walvault receive):\n");
    for (const ReceiveState& r : received)
        std::printf("  slot %s: timeline %u, durable up to %s (server at %s), last upload %s\n", r.slot.c_str(),
            r.timeline, format_lsn(r.flushed_lsn).c_str(), format_lsn(r.server_lsn).c_str(),
            format_utc_time(r.updated).c_str());
}

Status list(const ListContext& ctx)
{
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Status s = open_repository(ctx.common, settings, storage);
    if (!s.is_ok())
        return s;
    RepoIdentity id;
    s = read_identity(*storage, id);
    if (s.code() == Code::not_found)
        return Status::error(Code::not_found,
            "repository \"" + storage->location() + "\" has no identity.json: nothing was archived to it yet",
            "Check the repository setting (" + settings["repo"].source + ").");
    if (!s.is_ok())
        return s;
    std::vector<BackupRecord> backups;
    s = read_backup_catalog(*storage, backups);
    std::vector<ObjectInfo> wal;
    if (s.is_ok())
        s = storage->list(k_wal_prefix, wal);
    if (!s.is_ok())
        return s;
    const auto timelines = summarize_wal(wal, id.wal_segment_size);
    std::vector<TimelineFork> forks;
    s = read_timeline_forks(*storage, timelines, id.wal_segment_size, forks);
    std::vector<ReceiveState> received;
    if (s.is_ok())
        s = read_receive_states(*storage, received);
    if (!s.is_ok())
        return s;
    if (!ctx.json) {
        print_text(*storage, id, backups, timelines, forks);
        print_received(received);
        return Status::ok();
    }
    nlohmann::json doc = {{"format", k_list_format}, {"repository", storage->location()},
        {"system_identifier", std::to_string(id.system_identifier)}, {"pg_major", id.pg_major},
        {"wal_segment_size", id.wal_segment_size}, {"backups", nlohmann::json::array()},
        {"wal", nlohmann::json::array()}};
    for (const BackupRecord& r : backups)
        doc["backups"].push_back(backup_json(r));
    for (const TimelineSummary& t : timelines)
        doc["wal"].push_back(timeline_json(t, fork_of(forks, t.timeline)));
    doc["receive"] = nlohmann::json::array();
    for (const ReceiveState& r : received)
        doc["receive"].push_back(nlohmann::json::parse(receive_state_to_json(r)));
    std::printf("%s\n", doc.dump(2).c_str());
    return Status::ok();
}

}  // namespace

void add_list_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<ListContext>();
    CLI::App* cmd = app.add_subcommand(k_command, "List the backups and the archived WAL (per timeline, with gaps).");
    cmd->add_flag("--json", ctx->json, "print one JSON document (fields: docs/restore.md)");
    add_setting_flags(*cmd, ctx->common, k_use_list);
    on_run(*cmd, k_command, exit_code, [ctx] { return list(*ctx); });
}

}  // namespace walvault
