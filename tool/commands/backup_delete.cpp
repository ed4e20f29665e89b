// walvault backup-delete LABEL: removes one backup with delete_backup (core/repo/backup_delete.h: the
// manifest first, so that a deletion that stops half way leaves an incomplete backup rather than a damaged
// complete one; started.json last, so `list` still shows the leftovers until they are all gone). WAL is not
// touched.
#include "tool/commands/commands.h"

#include "core/repo/backup_delete.h"
#include "core/repo/backup_manifest.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace walvault {
namespace {

constexpr const char* k_command = "backup-delete";

struct BackupDeleteContext {
    CommonOptions common;
    std::string label;
};

Status backup_delete(const BackupDeleteContext& ctx)
{
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Status s = check_backup_label(ctx.label);
    if (s.is_ok())
        s = open_repository(ctx.common, settings, storage);
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
    add_setting_flags(*cmd, ctx->common, k_use_backup_delete);
    on_run(*cmd, k_command, exit_code, [ctx] { return backup_delete(*ctx); });
}

}  // namespace walvault
