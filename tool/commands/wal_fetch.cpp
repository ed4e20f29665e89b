// walvault wal-fetch FILE DEST: the restore_command of walvault. Fetches one WAL file (segment, .history,
// .partial) from the repository, decompresses it, checks its length and sha256 against the object's
// metadata, and writes DEST atomically. Exit 1, silently, when the repository does not have the file
// (PostgreSQL probes for files that do not exist); exit k_exit_fatal on anything else, so that a damaged
// object or an unreachable store stops recovery instead of ending it early at the wrong point.
#include "tool/commands/commands.h"

#include "core/codec/codec.h"
#include "core/common/file_io.h"
#include "core/pgdata/data_dir.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/wal_catalog.h"
#include "core/wal/wal_name.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <CLI/CLI.hpp>

namespace walvault {
namespace {

constexpr const char* k_command = "wal-fetch";
constexpr const char* k_temp_suffix = ".walvault-tmp";

struct WalFetchContext {
    CommonOptions common;
    std::string file;
    std::string dest;
};

// Fetches into DEST + suffix, then renames: PostgreSQL never sees a partial file under DEST.
Status fetch(Storage& storage, const WalFetchContext& ctx)
{
    const auto wal = parse_wal_name(ctx.file);
    if (!wal)
        return Status::error(Code::invalid, "\"" + ctx.file + "\" is not a WAL file name",
            "Use restore_command = 'walvault wal-fetch %f %p' (file name first, destination second).");
    const std::string key = wal_object_key(*wal);
    const std::string temp = ctx.dest + k_temp_suffix;
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return Status::error(Code::io_error, "could not create file \"" + temp + "\": " + errno_text(errno));
    ObjectMeta meta;
    Status s = decode_object(
        storage, key, [&](const uint8_t* d, size_t n) { return write_all(fd, d, n, temp); }, meta);
    if (s.is_ok() && meta.name != ctx.file)
        s = Status::error(Code::corrupt,
            "object \"" + storage.location(key) + "\" holds \"" + meta.name + "\", not \"" + ctx.file + "\"");
    if (s.is_ok() && ::fsync(fd) != 0)
        s = Status::error(Code::io_error, "could not fsync file \"" + temp + "\": " + errno_text(errno));
    ::close(fd);
    if (s.is_ok() && ::rename(temp.c_str(), ctx.dest.c_str()) != 0)
        s = Status::error(
            Code::io_error, "could not rename \"" + temp + "\" to \"" + ctx.dest + "\": " + errno_text(errno));
    if (!s.is_ok())
        ::unlink(temp.c_str());
    return s;
}

// restore_command runs in the data directory being recovered: refuse to feed it another system's WAL.
Status check_cluster(const Storage& storage, const RepoIdentity& identity)
{
    struct stat st;
    if (::stat("global/pg_control", &st) != 0 || !S_ISREG(st.st_mode))
        return Status::ok();  // not run by a server (a manual fetch): nothing to compare with
    uint64_t ours = 0;
    if (!read_system_identifier(".", ours).is_ok())
        return Status::ok();
    if (ours == identity.system_identifier)
        return Status::ok();
    return Status::error(Code::conflict,
        "repository \"" + storage.location() + "\" belongs to database system " +
            std::to_string(identity.system_identifier) + ", the data directory being recovered is database system " +
            std::to_string(ours),
        "restore_command points at the repository of another cluster; fix its --repo.");
}

int run(const WalFetchContext& ctx)
{
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Status s = open_repository(ctx.common, settings, storage);
    RepoIdentity identity;
    if (s.is_ok()) {
        // "Not there" is only believable from a repository we can read: an unmounted directory or a wrong
        // bucket must stop recovery, not end it early.
        s = read_identity(*storage, identity);
        if (s.code() == Code::not_found)
            s = Status::error(Code::io_error,
                "repository \"" + storage->location() + "\" has no " + k_identity_key +
                    ": it is not there or not a walvault repository",
                "Check the repository setting (" + settings["repo"].source + ") and that its storage is mounted.");
    }
    if (s.is_ok())
        s = check_cluster(*storage, identity);
    if (s.is_ok())
        s = fetch(*storage, ctx);
    if (s.is_ok())
        return k_exit_ok;
    if (s.code() == Code::not_found) {
        const auto wal = parse_wal_name(ctx.file);
        std::optional<std::string> later;
        Status gap;
        if (wal && wal->kind == WalKind::segment)
            gap = find_later_segment(*storage, *wal, identity.wal_segment_size, later);
        if (gap.is_ok() && !later)
            return k_exit_failure;  // quietly: PostgreSQL asks for files that do not exist
        s = !gap.is_ok()
            ? gap
            : Status::error(Code::not_found,
                  "\"" + ctx.file + "\" is missing from the repository, but later WAL of its timeline is there (\"" +
                      *later + "\"): the archive has a gap",
                  "Recovery cannot go past the gap. Find the missing file (pg_wal of the old primary, another "
                  "copy of the archive) and copy it into the repository, or recover to a target before it.");
    }
    if (storage)
        s.prefix("could not restore \"" + ctx.file + "\" from \"" + storage->location() + "\"");
    print_error(k_command, s);
    return k_exit_fatal;
}

}  // namespace

void add_wal_fetch_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<WalFetchContext>();
    CLI::App* cmd = app.add_subcommand(k_command,
        "Restore one WAL file from the repository (restore_command = 'walvault wal-fetch %f %p'). Exits 1 if the "
        "repository does not have it, " +
            std::to_string(k_exit_fatal) + " on any other failure.");
    cmd->add_option("FILE", ctx->file, "WAL file name (%f)")->required();
    cmd->add_option("DEST", ctx->dest, "destination path (%p)")->required();
    add_setting_flags(*cmd, ctx->common);
    cmd->callback([ctx, &exit_code] { exit_code = run(*ctx); });
}

}  // namespace walvault
