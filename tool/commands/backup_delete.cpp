// walvault backup-delete LABEL: removes one backup. The manifest goes first, so that a deletion that stops
// half way leaves an incomplete backup (never restored, listed as such) rather than a damaged complete one;
// started.json goes last, so `list` still shows the leftovers until they are all gone. WAL is not touched.
#include "tool/commands/commands.h"

#include "core/repo/backup_catalog.h"
#include "core/repo/backup_manifest.h"
#include "core/repo/layout.h"

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
    if (!s.is_ok())
        return s;
    std::vector<ObjectInfo> objects;
    s = storage->list(backup_prefix(ctx.label), objects);
    if (!s.is_ok())
        return s;
    if (objects.empty())
        return Status::error(Code::not_found,
            "backup \"" + ctx.label + "\" is not in repository \"" + storage->location() + "\"",
            "walvault list shows the backups.");
    uint64_t bytes = 0;
    std::vector<std::string> keys;
    for (const ObjectInfo& o : objects) {
        bytes += o.size;
        if (o.key != backup_manifest_key(ctx.label) && o.key != backup_started_key(ctx.label))
            keys.push_back(o.key);
    }
    s = storage->remove(backup_manifest_key(ctx.label));
    if (s.is_ok())
        s = storage->remove_many(keys);
    if (s.is_ok())
        s = storage->remove(backup_started_key(ctx.label));
    if (!s.is_ok())
        return s.prefix("could not delete backup \"" + ctx.label +
            "\" (it is no longer restorable; run "
            "backup-delete again to remove the rest)");
    std::printf("deleted backup \"%s\": %zu objects, %llu bytes\n", ctx.label.c_str(), objects.size(),
        static_cast<unsigned long long>(bytes));
    return Status::ok();
}

}  // namespace

void add_backup_delete_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<BackupDeleteContext>();
    CLI::App* cmd = app.add_subcommand(
        k_command, "Delete one backup from the repository (its manifest first; archived WAL is kept).");
    cmd->add_option("LABEL", ctx->label, "label of the backup (walvault list)")->required();
    add_setting_flags(*cmd, ctx->common);
    on_run(*cmd, k_command, exit_code, [ctx] { return backup_delete(*ctx); });
}

}  // namespace walvault
