// walvault backup-pin LABEL and backup-unpin LABEL: a pinned backup, and the WAL it needs, stay whatever the
// retention policy says (core/repo/retention.h); backup-delete removes one only with --force. The pin is an
// object beside the manifest (core/repo/backup_marks.h), so pinning never rewrites the manifest.
#include "tool/commands/commands.h"

#include "core/common/setting_def.h"
#include "core/common/utc_time.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/backup_manifest.h"
#include "core/repo/backup_marks.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>

namespace walvault {
namespace {

struct PinContext {
    CommonOptions common;
    std::string label;
    std::string until;
    std::string reason;
    bool standalone = false;
};

// The backup, which must exist and be complete.
Status find_backup(
    Storage& storage, const std::string& label, std::vector<BackupRecord>& backups, const BackupRecord*& found)
{
    found = nullptr;
    Status s = read_backup_catalog(storage, backups);
    if (!s.is_ok())
        return s;
    for (const BackupRecord& r : backups)
        if (r.label == label)
            found = &r;
    if (found == nullptr)
        return Status::error(Code::not_found,
            "backup \"" + label + "\" is not in repository \"" + storage.location() + "\"",
            "walvault list shows the backups.");
    return Status::ok();
}

// --until: an ISO 8601 UTC time ("2027-06-30T00:00:00Z") or a span from now in PostgreSQL's units ("90d").
Status parse_until(const std::string& text, int64_t now, int64_t& until)
{
    if (parse_time_or_span(text, now, 1, until) && until > now)
        return Status::ok();
    return Status::error(Code::invalid, "--until must be a time in the future or a span, not \"" + text + "\"",
        "Give a UTC time such as 2027-06-30T00:00:00Z, or a span from now such as 90d or 12h.");
}

Status pin(const PinContext& ctx)
{
    Status s = check_backup_label(ctx.label);
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    if (s.is_ok())
        s = open_repository(ctx.common, settings, storage);
    BackupPin pin;
    pin.pinned_at = std::time(nullptr);
    pin.reason = ctx.reason;
    pin.standalone = ctx.standalone;
    if (s.is_ok() && !ctx.until.empty())
        s = parse_until(ctx.until, pin.pinned_at, pin.until);
    std::vector<BackupRecord> backups;
    const BackupRecord* backup = nullptr;
    if (s.is_ok())
        s = find_backup(*storage, ctx.label, backups, backup);
    if (s.is_ok() && !backup->complete)
        s = Status::error(Code::invalid, "backup \"" + ctx.label + "\" is incomplete and cannot be pinned",
            "Only a complete backup can be restored; pin one of those (walvault list).");
    if (s.is_ok())
        s = write_backup_pin(*storage, ctx.label, pin);
    if (!s.is_ok())
        return s;
    std::printf("pinned backup \"%s\"%s%s%s\n", ctx.label.c_str(),
        pin.until ? (" until " + format_utc_time(pin.until)).c_str() : " until unpinned",
        pin.standalone ? ", with only its own WAL (start to stop)" : ", with the WAL from its start on",
        pin.reason.empty() ? "" : (": " + pin.reason).c_str());
    return Status::ok();
}

Status unpin(const PinContext& ctx)
{
    Status s = check_backup_label(ctx.label);
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    if (s.is_ok())
        s = open_repository(ctx.common, settings, storage);
    std::vector<BackupRecord> backups;
    const BackupRecord* backup = nullptr;
    if (s.is_ok())
        s = find_backup(*storage, ctx.label, backups, backup);
    size_t removed = 0;
    if (s.is_ok())
        s = remove_backup_pins(*storage, ctx.label, removed);
    if (!s.is_ok())
        return s;
    if (removed == 0)
        std::printf("backup \"%s\" was not pinned\n", ctx.label.c_str());
    else
        std::printf("unpinned backup \"%s\": the retention policy decides about it again\n", ctx.label.c_str());
    return Status::ok();
}

}  // namespace

void add_backup_pin_commands(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<PinContext>();
    CLI::App* cmd = app.add_subcommand("backup-pin",
        "Keep a backup, and the WAL it needs, whatever the retention policy says (until --until, or backup-unpin).");
    cmd->add_option("LABEL", ctx->label, "label of a complete backup (walvault list)")->required();
    cmd->add_option("--until", ctx->until,
        "when the pin ends: a UTC time (2027-06-30T00:00:00Z) or a span from now (90d); default: never");
    cmd->add_option("--reason", ctx->reason, "why it is kept, shown by list and expire");
    cmd->add_flag("--standalone", ctx->standalone,
        "keep only the WAL from the backup's start to its stop, and the segment after (restorable to its end "
        "with --target-immediate, not to later points)");
    add_setting_flags(*cmd, ctx->common, k_use_pin);
    on_run(*cmd, "backup-pin", exit_code, [ctx] { return pin(*ctx); });

    auto uctx = std::make_shared<PinContext>();
    CLI::App* ucmd = app.add_subcommand("backup-unpin", "Remove a backup's pin: the retention policy decides again.");
    ucmd->add_option("LABEL", uctx->label, "label of the backup (walvault list)")->required();
    add_setting_flags(*ucmd, uctx->common, k_use_pin);
    on_run(*ucmd, "backup-unpin", exit_code, [uctx] { return unpin(*uctx); });
}

}  // namespace walvault
