// walvault wal-push PATH and walvault repair --pgdata DIR: putting WAL files from a data directory into the
// repository with the archive module's guarantees (core/repo/wal_archive.h: durable and verified before
// success, an identical copy is success, different content under the same name is an error and is never
// overwritten). wal-push is an archive_command for servers that cannot load the module; repair fills
// holes in the repository from pg_wal. Both check each segment's page header first (core/pgdata/wal_file.h),
// so that a recycled segment or a file of another cluster never goes in.
#include "tool/commands/commands.h"

#include "core/codec/codec.h"
#include "core/common/utc_time.h"
#include "core/config/settings.h"
#include "core/pgdata/data_dir.h"
#include "core/pgdata/wal_file.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/wal_archive.h"
#include "core/repo/wal_catalog.h"
#include "core/wal/wal_name.h"
#include "tool/progress.h"

#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

namespace walvault {
namespace {

namespace fs = std::filesystem;

struct PushContext {
    CommonOptions common;
    std::string path;    // wal-push: the file (%p)
    std::string pgdata;  // the data directory; wal-push: default the working directory
    bool dry_run = false;

    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Compression compression;
    uint64_t system_identifier = 0;
    RepoIdentity identity;
    std::vector<AgeRecipient> recipients;  // encryption_recipients
    RepoIdentity encryption;               // the encryption fields they give the repository identity
};

Status invalid(const std::string& message, const std::string& hint = {})
{
    return Status::error(Code::invalid, message, hint);
}

std::string pg_wal_dir_of(const std::string& pgdata)
{
    return pgdata + "/pg_wal";
}

// Whether the file at path begins with the page header of segment `name` of this system (any length).
bool check_wal_page_header_of(
    const std::string& path, const WalName& name, uint64_t system_identifier, uint64_t segment_size)
{
    WalPageHeader h;
    return read_wal_page_header(path, h).is_ok() &&
        check_wal_page_header(h, name, system_identifier, segment_size, path).is_ok();
}

// The data directory's system identifier and major version.
Status read_data_directory(PushContext& ctx, int& pg_major)
{
    Status s = read_system_identifier(ctx.pgdata, ctx.system_identifier);
    if (!s.is_ok())
        return s.prefix("could not read the data directory \"" + ctx.pgdata + "\" (--pgdata)");
    std::ifstream version(ctx.pgdata + "/PG_VERSION");
    pg_major = 0;
    if (!(version >> pg_major) || pg_major < 15)
        return invalid("\"" + ctx.pgdata + "/PG_VERSION\" does not name PostgreSQL 15 or later");
    return Status::ok();
}

Status open(PushContext& ctx)
{
    Status s = open_repository(ctx.common, ctx.settings, ctx.storage);
    if (s.is_ok())
        s = resolved_recipients(ctx.settings, ctx.recipients, ctx.encryption);
    if (!s.is_ok())
        return s;
    return resolved_compression(ctx.settings, ctx.compression);
}

// The repository's identity, which must be this system's; created from the data directory and the
// segment's own header if the repository is new.
Status check_identity(PushContext& ctx, int pg_major, uint64_t segment_size)
{
    Status s = read_identity(*ctx.storage, ctx.identity);
    if (s.code() == Code::not_found && segment_size != 0) {
        RepoIdentity ours;
        ours.system_identifier = ctx.system_identifier;
        ours.pg_major = pg_major;
        ours.wal_segment_size = segment_size;
        ours.created = format_utc_time(std::time(nullptr));
        ours.encryption = ctx.encryption.encryption;
        ours.recipients = ctx.encryption.recipients;
        s = ensure_identity(*ctx.storage, ours, &ctx.identity);
    } else if (s.code() == Code::not_found) {
        return Status::error(Code::not_found, "repository \"" + ctx.storage->location() + "\" has no identity.json yet",
            "Archive a WAL segment first; the repository takes its identity from it.");
    }
    if (!s.is_ok())
        return s;
    if (ctx.identity.system_identifier != ctx.system_identifier)
        return Status::error(Code::conflict,
            "repository \"" + ctx.storage->location() + "\" belongs to database system " +
                std::to_string(ctx.identity.system_identifier) + ", not to this one (" +
                std::to_string(ctx.system_identifier) + ")",
            "Check --repo and --pgdata.");
    return check_identity_encryption(*ctx.storage, ctx.identity, ctx.encryption);
}

// Pushes one file; says what happened on stdout.
Status push_file(PushContext& ctx, Encoder& encoder, const WalName& name, const std::string& path)
{
    if (name.kind == WalKind::segment || name.kind == WalKind::partial) {
        Status s = check_wal_segment_file(path, name, ctx.system_identifier, ctx.identity.wal_segment_size);
        if (!s.is_ok())
            return s.prefix("refusing to archive \"" + name.text + "\"");
    }
    ArchiveReport report;
    Status s = archive_wal_file(*ctx.storage, encoder, ctx.compression, name.text, path, report, ctx.recipients);
    if (!s.is_ok())
        return s;
    if (report.already_archived)
        std::printf("%s was already archived, with the same content\n", name.text.c_str());
    else
        std::printf("archived %s: %s, %s stored\n", name.text.c_str(), format_bytes(report.bytes_in).c_str(),
            format_bytes(report.bytes_out).c_str());
    return Status::ok();
}

Status wal_push(PushContext& ctx)
{
    const std::string base = fs::path(ctx.path).filename().string();
    const std::optional<WalName> name = parse_wal_name(base);
    if (!name)
        return invalid("\"" + base + "\" is not a WAL file name",
            "wal-push takes the path of a WAL segment, .partial, .history or .backup file (archive_command's %p).");
    if (ctx.pgdata.empty()) {
        std::error_code ec;
        ctx.pgdata = fs::current_path(ec).string();  // archive_command runs in the data directory
    }
    std::string path = ctx.path;
    if (!path.empty() && path[0] != '/')
        path = (fs::current_path() / path).string();
    int pg_major = 0;
    Status s = open(ctx);
    if (s.is_ok())
        s = read_data_directory(ctx, pg_major);
    uint64_t segment_size = 0;
    if (s.is_ok() && (name->kind == WalKind::segment || name->kind == WalKind::partial)) {
        WalPageHeader h;
        s = read_wal_page_header(path, h);
        segment_size = h.segment_size;
        if (s.is_ok() && !valid_wal_segment_size(segment_size))
            s = Status::error(Code::corrupt, "file \"" + path + "\" does not begin with a WAL segment's page header");
    }
    if (s.is_ok())
        s = check_identity(ctx, pg_major, segment_size);
    if (!s.is_ok())
        return s;
    Encoder encoder;
    return push_file(ctx, encoder, *name, path);
}

Status repair(PushContext& ctx)
{
    int pg_major = 0;
    Status s = open(ctx);
    if (s.is_ok())
        s = read_data_directory(ctx, pg_major);
    if (s.is_ok())
        s = check_identity(ctx, pg_major, 0);
    if (!s.is_ok())
        return s;
    const uint64_t segment_size = ctx.identity.wal_segment_size;
    std::vector<ObjectInfo> objects;
    s = ctx.storage->list(k_wal_prefix, objects);
    if (!s.is_ok())
        return s;
    std::set<std::string> archived;
    for (const ObjectInfo& o : objects)
        if (const auto n = wal_name_of_key(o.key, segment_size))
            archived.insert(n->text);

    // What pg_wal has that the repository lacks: complete segments (those PostgreSQL has marked .ready or
    // .done; the one being written and recycled ones have no status) and history files.
    const std::string pg_wal = ctx.pgdata + "/pg_wal";
    std::error_code ec;
    std::vector<WalName> candidates;
    size_t without_status = 0;
    for (const auto& entry : fs::directory_iterator(pg_wal, ec)) {
        const std::string file = entry.path().filename().string();
        const std::optional<WalName> n = parse_wal_name(file);
        if (!n || archived.count(file) || !(n->kind == WalKind::segment || n->kind == WalKind::history))
            continue;
        if (n->kind == WalKind::segment && !fs::exists(pg_wal + "/archive_status/" + file + ".ready", ec) &&
            !fs::exists(pg_wal + "/archive_status/" + file + ".done", ec)) {
            without_status++;
            continue;
        }
        candidates.push_back(*n);
    }
    if (ec)
        return Status::error(Code::io_error, "could not list \"" + pg_wal + "\": " + ec.message());
    std::sort(candidates.begin(), candidates.end(),
        [](const WalName& a, const WalName& b) { return archive_order_less(a.text, b.text); });

    size_t pushed = 0, refused = 0;
    Encoder encoder;
    for (const WalName& n : candidates) {
        const std::string path = pg_wal + "/" + n.text;
        if (ctx.dry_run) {
            Status check = n.kind == WalKind::segment
                ? check_wal_segment_file(path, n, ctx.system_identifier, segment_size)
                : Status::ok();
            if (check.is_ok())
                std::printf("would archive %s\n", n.text.c_str());
            else
                std::printf("would not archive %s: %s\n", n.text.c_str(), check.message().c_str());
            (check.is_ok() ? pushed : refused)++;
            continue;
        }
        Status p = push_file(ctx, encoder, n, path);
        if (p.is_ok()) {
            pushed++;
        } else {
            refused++;
            std::printf("could not archive %s: %s\n", n.text.c_str(), p.message().c_str());
        }
    }
    std::printf("%s %zu of %zu files missing from the repository", ctx.dry_run ? "would archive" : "archived", pushed,
        candidates.size());
    if (without_status > 0)
        std::printf(" (%zu more in pg_wal have no .ready or .done status: the segment being written, or "
                    "recycled ones)",
            without_status);
    std::printf("\n");

    // What is still missing: the holes between archived segments that pg_wal could not fill.
    size_t holes = 0;
    if (!ctx.dry_run) {
        s = ctx.storage->list(k_wal_prefix, objects);
        if (!s.is_ok())
            return s;
        for (const TimelineSummary& t : summarize_wal(objects, segment_size))
            for (const WalGap& g : t.gaps) {
                holes++;
                std::printf("still missing on timeline %u: %s .. %s (%llu segments)\n", t.timeline,
                    g.first_missing.c_str(), g.last_missing.c_str(), static_cast<unsigned long long>(g.segments));
            }
    }
    if (refused > 0 || holes > 0)
        return Status::error(Code::io_error,
            std::to_string(refused) + " files could not be archived and " + std::to_string(holes) +
                " holes remain in the repository",
            "The files above are gone from pg_wal or are not this cluster's; look for them in another copy "
            "of the archive or an old primary's pg_wal.");
    return Status::ok();
}

}  // namespace

Status save_old_wal(Storage& storage, const ResolvedSettings& settings, const std::string& pgdata, OldWal& report)
{
    report = OldWal{};
    std::error_code ec;
    if (!fs::is_regular_file(pgdata + "/global/pg_control", ec) || !fs::is_directory(pgdata + "/pg_wal", ec))
        return Status::ok();  // no data directory (empty, or a restore that never finished): no WAL of a server
    uint64_t system_identifier = 0;
    Status s = read_system_identifier(pgdata, system_identifier);
    if (!s.is_ok())
        return s.prefix("could not read the data directory \"" + pgdata + "\" that restore would replace");
    RepoIdentity identity;
    s = read_identity(storage, identity);
    if (!s.is_ok())
        return s;
    if (identity.system_identifier != system_identifier)
        return Status::error(Code::conflict,
            "the data directory \"" + pgdata + "\" belongs to database system " + std::to_string(system_identifier) +
                ", the repository \"" + storage.location() + "\" to " + std::to_string(identity.system_identifier) +
                ": the WAL in its pg_wal cannot be archived before it is replaced",
            "restore --force replaces a data directory only once the WAL it holds is in the repository. If that "
            "cluster's WAL is not needed, move the directory away or remove it yourself, then restore again.");
    const uint64_t segment_size = identity.wal_segment_size;
    Compression compression;
    s = resolved_compression(settings, compression);
    if (!s.is_ok())
        return s;
    // An encrypted repository gets encrypted objects: the recipients must be given, and be the repository's.
    std::vector<AgeRecipient> recipients;
    RepoIdentity ours;
    s = resolved_recipients(settings, recipients, ours);
    if (s.is_ok())
        s = check_identity_encryption(storage, identity, ours);
    if (!s.is_ok())
        return s.prefix("could not archive the WAL in \"" + pg_wal_dir_of(pgdata) + "\"");

    // Segments of this system at their own address (recycled and preallocated ones fail the header check),
    // and history files.
    const std::string pg_wal = pg_wal_dir_of(pgdata);
    std::vector<WalName> segments, histories;
    for (const auto& entry : fs::directory_iterator(pg_wal, ec)) {
        const std::optional<WalName> n = parse_wal_name(entry.path().filename().string());
        if (!n)
            continue;
        if (n->kind == WalKind::history)
            histories.push_back(*n);
        else if (n->kind == WalKind::segment &&
            check_wal_page_header_of(pg_wal + "/" + n->text, *n, system_identifier, segment_size))
            segments.push_back(*n);
    }
    if (ec)
        return Status::error(Code::io_error, "could not list \"" + pg_wal + "\": " + ec.message());
    auto newer = [&](const WalName& a, const WalName& b) {
        const uint64_t sa = segment_number(a, segment_size), sb = segment_number(b, segment_size);
        return sa != sb ? sa < sb : a.timeline < b.timeline;
    };
    std::sort(segments.begin(), segments.end(), newer);
    std::sort(histories.begin(), histories.end(),
        [](const WalName& a, const WalName& b) { return archive_order_less(a.text, b.text); });

    Encoder encoder;
    auto save = [&](const std::string& name, const std::string& path) -> Status {
        ArchiveReport r;
        Status st = archive_wal_file(storage, encoder, compression, name, path, r, recipients);
        if (!st.is_ok())
            return st.prefix("could not archive \"" + path + "\" before replacing the data directory");
        (r.already_archived ? report.present : report.archived).push_back(name);
        return Status::ok();
    };
    for (const WalName& n : histories) {
        ObjectInfo info;
        s = storage.head(wal_object_key(n), info);
        if (s.code() == Code::not_found)
            s = save(n.text, pg_wal + "/" + n.text);
        if (!s.is_ok())
            return s;
    }
    for (size_t i = 0; i < segments.size(); ++i) {
        const WalName& n = segments[i];
        const std::string path = pg_wal + "/" + n.text;
        ObjectInfo info;
        s = storage.head(wal_object_key(n), info);
        if (s.is_ok())
            continue;  // archived whole
        if (s.code() != Code::not_found)
            return s;
        const bool newest = i + 1 == segments.size();
        const bool complete = fs::exists(pg_wal + "/archive_status/" + n.text + ".ready", ec) ||
            fs::exists(pg_wal + "/archive_status/" + n.text + ".done", ec);
        if (!newest || complete) {
            s = check_wal_segment_file(path, n, system_identifier, segment_size);  // whole: the full size too
            if (s.is_ok())
                s = save(n.text, path);
        } else {
            // The segment the server was writing: what it holds up to the server's last write, as a partial.
            s = save(n.text + ".partial", path);
            if (s.is_ok())
                report.partial = n.text + ".partial";
        }
        if (!s.is_ok())
            return s;
    }
    return Status::ok();
}

void add_wal_push_commands(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<PushContext>();
    CLI::App* cmd = app.add_subcommand("wal-push",
        "Archive one WAL file into the repository, with the archive module's guarantees: an archive_command "
        "(walvault wal-push %p) for servers that cannot load the module.");
    cmd->add_option("PATH", ctx->path, "the WAL file (archive_command's %p)")->required();
    cmd->add_option("--pgdata,-D", ctx->pgdata,
        "data directory of the server (default: the working directory, where archive_command runs)");
    add_setting_flags(*cmd, ctx->common, k_use_wal_push);
    on_run(*cmd, "wal-push", exit_code, [ctx] { return wal_push(*ctx); });

    auto rctx = std::make_shared<PushContext>();
    CLI::App* rcmd = app.add_subcommand("repair",
        "Archive the complete WAL segments and history files that the repository lacks and the data "
        "directory's pg_wal still has; then report the holes that remain.");
    rcmd->add_option("--pgdata,-D", rctx->pgdata, "data directory of the server")->required();
    rcmd->add_flag("--dry-run,-n", rctx->dry_run, "say what would be archived and archive nothing");
    add_setting_flags(*rcmd, rctx->common, k_use_wal_push);
    on_run(*rcmd, "repair", exit_code, [rctx] { return repair(*rctx); });
}

}  // namespace walvault
