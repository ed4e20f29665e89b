// walvault backup-delete LABEL: removes one backup with delete_backup (core/repo/backup_delete.h: the
// manifest first, so that a deletion that stops half way leaves an incomplete backup rather than a damaged
// complete one; started.json last, so `list` still shows the leftovers until they are all gone). WAL is not
// touched. A pinned backup, the newest complete one and one that is being written are removed only with
// --force.
#include "tool/commands/commands.h"

#include "core/common/utc_time.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/backup_delete.h"
#include "core/repo/backup_manifest.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>

namespace walvault {
namespace {

constexpr const char* k_command = "backup-delete";

struct BackupDeleteContext {
    CommonOptions common;
    std::string label;
    bool force = false;
};

// Why the backup must stay unless --force is given; "" if nothing keeps it.
Status check_deletable(Storage& storage, const ResolvedSettings& settings, const std::string& label)
{
    std::vector<BackupRecord> backups;
    Status s = read_backup_catalog(storage, backups);
    if (!s.is_ok())
        return s;
    const int64_t now = std::time(nullptr);
    const BackupRecord* newest = nullptr;
    for (const BackupRecord& r : backups)
        if (r.complete &&
            (newest == nullptr || r.manifest.start_lsn > newest->manifest.start_lsn ||
                (r.manifest.start_lsn == newest->manifest.start_lsn &&
                    r.manifest.timeline >= newest->manifest.timeline)))
            newest = &r;
    const std::string hint = "Pass --force to delete it all the same.";
    for (const BackupRecord& r : backups) {
        if (r.label != label)
            continue;
        if (r.pin && r.pin->active(now))
            return Status::error(Code::conflict,
                "backup \"" + label + "\" is pinned" +
                    (r.pin->until ? " until " + format_utc_time(r.pin->until) : std::string()) +
                    (r.pin->reason.empty() ? "" : " (" + r.pin->reason + ")"),
                "walvault backup-unpin removes the pin. " + hint);
        if (&r == newest)
            return Status::error(Code::conflict, "backup \"" + label + "\" is the newest complete backup",
                "Without it, recovery would have to start from an older backup, or none. " + hint);
        if (!r.complete) {
            const int64_t timeout = setting_int(settings, "lease_timeout");
            int64_t started = 0;
            if (!parse_utc_time(r.started, started).is_ok())
                started = 0;  // unknown: judged by the store's time of started.json
            const bool alive = r.lease ? r.lease->alive(now) : now - std::max(started, r.started_modified) <= timeout;
            if (alive)
                return Status::error(Code::conflict, "backup \"" + label + "\" is being written",
                    "Wait for it to finish or fail, or stop it first. " + hint);
        }
    }
    return Status::ok();
}

Status backup_delete(const BackupDeleteContext& ctx)
{
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Status s = check_backup_label(ctx.label);
    if (s.is_ok())
        s = open_repository(ctx.common, settings, storage);
    if (s.is_ok() && !ctx.force)
        s = check_deletable(*storage, settings, ctx.label);
    DeleteReport report;
    if (s.is_ok())
        s = delete_backup(*storage, ctx.label, report);
    if (!s.is_ok())
        return s;
    std::printf("deleted backup \"%s\": %llu objects, %llu bytes\n", ctx.label.c_str(),
        static_cast<unsigned long long>(report.objects), static_cast<unsigned long long>(report.bytes));
    return Status::ok();
}

}  // namespace

void add_backup_delete_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<BackupDeleteContext>();
    CLI::App* cmd = app.add_subcommand(
        k_command, "Delete one backup from the repository (its manifest first; archived WAL is kept).");
    cmd->add_option("LABEL", ctx->label, "label of the backup (walvault list)")->required();
    cmd->add_flag("--force", ctx->force, "delete it even if it is pinned, the newest complete one, or being written");
    add_setting_flags(*cmd, ctx->common, k_use_backup_delete);
    on_run(*cmd, k_command, exit_code, [ctx] { return backup_delete(*ctx); });
}

}  // namespace walvault
