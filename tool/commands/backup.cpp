// walvault backup: a base backup of a running cluster into the repository. One libpq session runs a
// non-exclusive pg_backup_start / pg_backup_stop; in between, the data directory and every tablespace go
// through the codec on --parallel workers. The backup is complete, and restorable, only once the WAL from
// its start to its stop point is in the repository and its manifest (written last) exists. While it runs, a
// lease (core/repo/backup_marks.h) tells expire that the backup's writer is alive; with --expire, expire runs
// after a successful backup.
#include "tool/commands/commands.h"

#include "core/codec/codec.h"
#include "core/common/utc_time.h"
#include "core/config/settings.h"
#include "core/pgdata/data_dir.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/backup_files.h"
#include "core/repo/backup_manifest.h"
#include "core/repo/backup_marks.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/wal/wal_name.h"
#include "tool/pg_client.h"
#include "tool/progress.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <thread>

namespace walvault {
namespace {

constexpr const char* k_command = "backup";
constexpr int k_default_archive_timeout_s = 60;  // how long to wait for the backup's WAL to be archived
constexpr auto k_archive_poll = std::chrono::milliseconds(250);

struct BackupContext {
    CommonOptions common;
    std::string pgdata;
    std::string label;
    std::string dbname;
    std::string checkpoint = "spread";
    int archive_timeout_s = k_default_archive_timeout_s;
    bool expire = false;  // --expire

    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Compression compression;
    std::vector<AgeRecipient> recipients;  // encryption_recipients; empty: objects are not encrypted
    int parallel = 1;
    uint64_t part_size = 0;  // bytes
    PgClient pg;
    BackupManifest manifest;
    bool started = false;     // objects of ours may exist under the label's prefix
    std::string claim_token;  // in started.json while the label is ours (claim_backup_label)
    LeaseKeeper lease;
};

Status fail(const std::string& message, const std::string& hint = {})
{
    return Status::error(Code::invalid, message, hint);
}

// Server facts, checked before anything is written. Everything here is readable by a role with no more
// than EXECUTE on pg_backup_start and pg_backup_stop (docs/restore.md): settings that PostgreSQL shows only
// to superusers and pg_read_all_settings (data_directory, archive_library, archive_command) are read from
// pg_settings, which leaves out the rows such a role may not see, and their checks are skipped then.
Status inspect_server(BackupContext& ctx)
{
    PgRow row;
    Status s = ctx.pg.query_row(
        "SELECT current_setting('server_version_num'), (SELECT system_identifier FROM pg_control_system()), "
        "(SELECT setting FROM pg_settings WHERE name = 'data_directory'), "
        "(SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'), pg_is_in_recovery(), "
        "current_setting('archive_mode'), (SELECT setting FROM pg_settings WHERE name = 'archive_library'), "
        "(SELECT setting FROM pg_settings WHERE name = 'archive_command'), "
        "(SELECT count(*) FROM pg_settings WHERE name IN ('archive_library', 'archive_command'))",
        {}, row);
    if (!s.is_ok())
        return s.prefix("could not read the server's settings");
    ctx.manifest.pg_version_num = std::stoi(row[0]);
    ctx.manifest.system_identifier = std::stoull(row[1]);
    ctx.manifest.wal_segment_size = std::stoull(row[3]);
    if (ctx.manifest.pg_version_num < 150000)
        return fail("the server runs PostgreSQL " + row[0] + ", walvault needs 15 or later");
    if (row[4] == "t")
        return fail("the server is a standby",
            "Take the backup on the primary; backups from a standby are not "
            "supported yet.");
    if (row[5] == "off")
        return fail("archive_mode is off on the server",
            "A backup is restorable only with the WAL written during it: set archive_mode = on and "
            "archive_library = 'walvault' (restart needed).");
    const bool archiving_visible = row[8] == "2";  // else waiting for the backup's WAL is the only check
    if (archiving_visible && row[6].empty() && row[7].empty())
        return fail("neither archive_library nor archive_command is set on the server",
            "Set archive_library = 'walvault' and walvault.repo to this repository.");
    if (ctx.pgdata.empty())
        ctx.pgdata = row[2];
    if (ctx.pgdata.empty())
        return fail("the server does not show its data_directory to this role, and --pgdata is not given",
            "Pass --pgdata with the server's data directory, or connect as a superuser or a member of "
            "pg_read_all_settings.");
    uint64_t local_id = 0;
    s = read_system_identifier(ctx.pgdata, local_id);
    if (!s.is_ok())
        return s.prefix("could not read the data directory \"" + ctx.pgdata + "\"");
    if (local_id != ctx.manifest.system_identifier)
        return Status::error(Code::conflict,
            "data directory \"" + ctx.pgdata + "\" belongs to database system " + std::to_string(local_id) +
                ", the server is database system " + std::to_string(ctx.manifest.system_identifier),
            "Pass the --pgdata of the server that --dbname connects to.");
    return Status::ok();
}

Status check_repository(BackupContext& ctx)
{
    RepoIdentity ours;
    ours.system_identifier = ctx.manifest.system_identifier;
    ours.pg_major = ctx.manifest.pg_version_num / 10000;
    ours.wal_segment_size = ctx.manifest.wal_segment_size;
    ours.created = format_utc_time(std::time(nullptr));
    Status s = resolved_recipients(ctx.settings, ctx.recipients, ours);
    if (s.is_ok())
        s = ensure_identity(*ctx.storage, ours);
    if (!s.is_ok())
        return s;
    if (ctx.label.empty())
        ctx.label = default_backup_label(std::time(nullptr));
    s = check_backup_label(ctx.label);
    if (!s.is_ok())
        return s;
    std::vector<ObjectInfo> existing;
    s = ctx.storage->list(backup_prefix(ctx.label), existing);
    if (!s.is_ok())
        return s;
    if (!existing.empty())
        return Status::error(Code::already_exists,
            "backup \"" + ctx.label + "\" already exists in \"" + ctx.storage->location() + "\"",
            "Choose another --label, or remove the old one with walvault backup-delete.");
    ctx.manifest.label = ctx.label;
    ctx.manifest.compression = ctx.compression.to_string();
    return Status::ok();
}

// Whether the label is still ours; if not, what is under it is the other run's and must be left alone.
Status check_claim(BackupContext& ctx)
{
    Status s = check_backup_claim(*ctx.storage, ctx.label, ctx.claim_token);
    if (s.code() == Code::already_exists)
        ctx.started = false;
    return s;
}

Status start_backup(BackupContext& ctx)
{
    Status s = claim_backup_label(
        *ctx.storage, ctx.label, format_utc_time(std::time(nullptr)), ctx.manifest.system_identifier, ctx.claim_token);
    if (!s.is_ok())
        return s;
    ctx.started = true;
    s = ctx.lease.start(*ctx.storage, ctx.label, setting_int(ctx.settings, "lease_timeout"));
    if (!s.is_ok())
        return s;
    PgRow row;
    s = ctx.pg.query_row("SELECT pg_backup_start($1, $2), to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        {"walvault " + ctx.label, ctx.checkpoint == "fast" ? "true" : "false"}, row);
    if (!s.is_ok())
        return s.prefix("pg_backup_start failed");
    ctx.manifest.start_lsn = parse_lsn(row[0]).value_or(0);
    ctx.manifest.start_time = row[1];
    // Again before the first file: on a store that ignores create-only writes, a run that claimed the
    // label just after us has replaced started.json by now (the checkpoint takes longer than a claim).
    return check_claim(ctx);
}

struct CopyPlan {
    std::vector<DataDirEntry> files;
    std::vector<BackupDirectory> directories;
    uint64_t total = 0;
};

Status plan_copy(BackupContext& ctx, CopyPlan& plan)
{
    std::vector<DataDirEntry> entries;
    std::vector<TablespaceLink> links;
    Status s = walk_data_directory(ctx.pgdata, ctx.manifest.pg_version_num / 10000, entries, links);
    if (!s.is_ok())
        return s;
    std::vector<PgRow> rows;
    s = ctx.pg.query("SELECT oid, spcname, pg_tablespace_location(oid) FROM pg_tablespace "
                     "WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid",
        {}, rows);
    if (!s.is_ok())
        return s.prefix("could not list the server's tablespaces");
    std::map<uint32_t, std::string> names;
    for (const PgRow& r : rows)
        names[static_cast<uint32_t>(std::stoul(r[0]))] = r[1];
    for (const TablespaceLink& link : links)
        ctx.manifest.tablespaces.push_back({link.oid, names.count(link.oid) ? names[link.oid] : "", link.location});
    for (DataDirEntry& e : entries) {
        if (e.type == DataDirEntry::Type::directory) {
            plan.directories.push_back({e.path, e.mode});
        } else {
            plan.total += e.size;
            plan.files.push_back(std::move(e));
        }
    }
    return Status::ok();
}

// One unit of work: a whole file (part -1) or one part of a file larger than the part size.
struct CopyTask {
    size_t file;
    int part;
};

// A file's outcome: its manifest entry, whether it was found, the parts that were stored.
struct CopiedFile {
    BackupFile entry;
    std::atomic<bool> vanished{false};
    std::vector<char> stored;  // per part
};

Status copy_files(BackupContext& ctx, CopyPlan& plan, Progress& progress)
{
    std::vector<CopiedFile> copied(plan.files.size());
    std::vector<CopyTask> tasks;
    for (size_t i = 0; i < plan.files.size(); i++) {
        const DataDirEntry& e = plan.files[i];
        CopiedFile& c = copied[i];
        c.entry.path = e.path;
        c.entry.mtime = e.mtime;
        c.entry.mode = e.mode;
        const size_t parts = backup_part_count(e.size, ctx.part_size);
        c.entry.parts.resize(parts);
        c.stored.assign(parts, 0);
        if (parts == 0)
            tasks.push_back({i, -1});
        for (size_t p = 0; p < parts; p++)
            tasks.push_back({i, static_cast<int>(p)});
    }
    // Largest file first, its parts in order, so that the last worker does not start a 1 GiB segment when
    // the others are done, and the parts of one file are copied side by side; global/pg_control last, as
    // PostgreSQL's own base backup sends it.
    auto rank = [&](const CopyTask& t) { return plan.files[t.file].path == "global/pg_control" ? 1 : 0; };
    std::stable_sort(tasks.begin(), tasks.end(), [&](const CopyTask& a, const CopyTask& b) {
        if (rank(a) != rank(b))
            return rank(a) < rank(b);
        if (plan.files[a.file].size != plan.files[b.file].size)
            return plan.files[a.file].size > plan.files[b.file].size;
        return a.file != b.file ? a.file < b.file : a.part < b.part;
    });
    Status s = run_parallel(tasks.size(), ctx.parallel, [&](size_t k) -> Status {
        thread_local Encoder encoder;
        std::optional<AgeEncryptStage> cipher;  // encryption_recipients: a stage, and a file key, per object
        if (!ctx.recipients.empty())
            cipher.emplace(ctx.recipients);
        encoder.set_stage(cipher ? &*cipher : nullptr);
        struct ClearStage {
            Encoder& e;
            ~ClearStage() { e.set_stage(nullptr); }
        } clear_stage{encoder};
        const CopyTask& t = tasks[k];
        const DataDirEntry& e = plan.files[t.file];
        CopiedFile& c = copied[t.file];
        const std::string path = ctx.pgdata + "/" + e.path;
        Status st;
        uint64_t bytes = 0;
        if (t.part < 0) {
            st = store_backup_file(
                *ctx.storage, encoder, ctx.compression, backup_file_key(ctx.label, e.path), path, c.entry);
            bytes = c.entry.size;
        } else {
            // The last part reads to the end of the file: it may have grown since the walk.
            const bool last = static_cast<size_t>(t.part) + 1 == c.entry.parts.size();
            BackupPart& part = c.entry.parts[t.part];
            st = store_backup_range(*ctx.storage, encoder, ctx.compression, backup_part_key(ctx.label, e.path, t.part),
                path, e.path, t.part * ctx.part_size, last ? 0 : ctx.part_size, part);
            bytes = part.size;
            if (st.is_ok())
                c.stored[t.part] = 1;
        }
        if (st.code() == Code::not_found) {
            c.vanished = true;  // dropped meanwhile; WAL replay knows
            return Status::ok();
        }
        if (!st.is_ok())
            return st.prefix(
                "could not back up \"" + e.path + "\"" + (t.part < 0 ? "" : " (part " + std::to_string(t.part) + ")"));
        progress.add(bytes);
        return Status::ok();
    });
    if (!s.is_ok())
        return s;
    // A file that vanished while its parts were copied is left out whole; its stored parts go.
    std::vector<std::string> orphans;
    for (CopiedFile& c : copied) {
        if (c.vanished) {
            for (size_t p = 0; p < c.stored.size(); p++)
                if (c.stored[p])
                    orphans.push_back(backup_part_key(ctx.label, c.entry.path, p));
            continue;
        }
        if (!c.entry.parts.empty()) {
            c.entry.size = 0;
            c.entry.stored_size = 0;
            for (const BackupPart& p : c.entry.parts) {
                if (p.size > 0)
                    c.entry.size = std::max(c.entry.size, p.offset + p.size);
                c.entry.stored_size += p.stored_size;
            }
        }
        ctx.manifest.files.push_back(std::move(c.entry));
    }
    if (!orphans.empty()) {
        s = ctx.storage->remove_many(orphans);
        if (!s.is_ok())
            return s.prefix("could not remove the parts of a file that vanished during the backup");
    }
    ctx.manifest.directories = std::move(plan.directories);
    return Status::ok();
}

Status stop_backup(BackupContext& ctx)
{
    PgRow row;
    Status s = ctx.pg.query_row("SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)", {}, row);
    if (!s.is_ok())
        return s.prefix("pg_backup_stop failed");
    ctx.manifest.stop_lsn = parse_lsn(row[0]).value_or(0);
    ctx.manifest.backup_label = row[1];
    ctx.manifest.tablespace_map = row[2];
    s = ctx.pg.query_row(
        "SELECT pg_snapshot_xmax(pg_current_snapshot()), to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", {}, row);
    if (!s.is_ok())
        return s;
    ctx.manifest.stop_next_xid = std::stoull(row[0]);
    ctx.manifest.stop_time = row[1];
    // "START TIMELINE: 1" in backup_label (PostgreSQL 11+).
    const std::string tag = "START TIMELINE: ";
    const size_t at = ctx.manifest.backup_label.find(tag);
    if (at == std::string::npos)
        return Status::error(Code::io_error, "backup_label from pg_backup_stop has no START TIMELINE line");
    ctx.manifest.timeline = static_cast<uint32_t>(std::stoul(ctx.manifest.backup_label.substr(at + tag.size())));
    return Status::ok();
}

// Waits until every segment from the start to the stop point is in the repository: a backup without them
// cannot be made consistent.
Status wait_for_wal(BackupContext& ctx)
{
    const uint64_t size = ctx.manifest.wal_segment_size;
    const uint64_t first = ctx.manifest.start_lsn / size;
    const uint64_t last = (ctx.manifest.stop_lsn - 1) / size;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(ctx.archive_timeout_s);
    for (uint64_t segno = first; segno <= last; segno++) {
        const std::string name = segment_file_name(ctx.manifest.timeline, segno, size);
        const std::string key = wal_object_key(*parse_wal_name(name));
        for (;;) {
            ObjectInfo info;
            Status s = ctx.storage->head(key, info);
            if (s.is_ok())
                break;
            if (s.code() != Code::not_found)
                return s;
            if (std::chrono::steady_clock::now() >= deadline)
                return Status::error(Code::io_error,
                    "WAL segment \"" + name + "\" needed by the backup was not archived to \"" +
                        ctx.storage->location() + "\" within " + std::to_string(ctx.archive_timeout_s) + " s",
                    "Check that the server archives with archive_library = 'walvault' and walvault.repo set to "
                    "this repository (SELECT * FROM walvault_status(); pg_stat_archiver), or raise "
                    "--archive-timeout.");
            std::this_thread::sleep_for(k_archive_poll);
        }
    }
    return Status::ok();
}

void remove_partial_backup(BackupContext& ctx)
{
    std::vector<ObjectInfo> objects;
    std::vector<std::string> keys;
    if (ctx.storage->list(backup_prefix(ctx.label), objects).is_ok()) {
        for (const ObjectInfo& o : objects)
            if (o.key != backup_started_key(ctx.label))
                keys.push_back(o.key);
        if (ctx.storage->remove_many(keys).is_ok() && ctx.storage->remove(backup_started_key(ctx.label)).is_ok())
            return;
    }
    std::fprintf(stderr,
        "walvault %s: the incomplete backup \"%s\" could not be removed; walvault backup-delete %s removes it\n",
        k_command, ctx.label.c_str(), ctx.label.c_str());
}

Status backup(BackupContext& ctx)
{
    Status s = open_repository(ctx.common, ctx.settings, ctx.storage);
    if (!s.is_ok())
        return s;
    s = resolved_compression(ctx.settings, ctx.compression);
    if (!s.is_ok())
        return s;
    ctx.parallel = static_cast<int>(setting_int(ctx.settings, "parallel"));
    ctx.part_size = static_cast<uint64_t>(setting_int(ctx.settings, "part_size")) * 1024 * 1024;
    if (ctx.checkpoint != "fast" && ctx.checkpoint != "spread")
        return fail("--checkpoint must be \"fast\" or \"spread\", not \"" + ctx.checkpoint + "\"");
    if (ctx.expire && setting_int(ctx.settings, "retain_full") == 0 && setting_int(ctx.settings, "retain_window") == 0)
        return fail("--expire needs a retention policy, and none is set",
            "Set retain_full (such as 7) or retain_window (such as 14d): as --retain-full/--retain-window, "
            "WALVAULT_RETAIN_FULL/WALVAULT_RETAIN_WINDOW or in the config file.");

    s = ctx.pg.connect(ctx.dbname);
    if (s.is_ok())
        s = inspect_server(ctx);
    if (s.is_ok())
        s = check_repository(ctx);
    if (!s.is_ok())
        return s;
    s = start_backup(ctx);
    CopyPlan plan;
    if (s.is_ok())
        s = plan_copy(ctx, plan);
    std::unique_ptr<Progress> progress;
    if (s.is_ok()) {
        progress = std::make_unique<Progress>(plan.total, "backed up");
        s = copy_files(ctx, plan, *progress);
        progress->stop();
    }
    if (s.is_ok())
        s = stop_backup(ctx);
    if (s.is_ok())
        s = wait_for_wal(ctx);
    if (s.is_ok())
        s = check_claim(ctx);
    if (s.is_ok())
        s = ctx.lease.intact();
    if (s.is_ok())
        s = write_small_object(*ctx.storage, backup_manifest_key(ctx.label), manifest_to_json(ctx.manifest));
    ctx.lease.finish();
    if (!s.is_ok()) {
        if (ctx.started)
            remove_partial_backup(ctx);
        return s;
    }
    const BackupManifest& m = ctx.manifest;
    std::printf("backup \"%s\" complete: %zu files, %s read, %s stored, in %.1f s (start %s, stop %s, timeline %u)\n",
        m.label.c_str(), m.files.size(), format_bytes(m.original_size()).c_str(), format_bytes(m.stored_size()).c_str(),
        progress ? progress->elapsed_seconds() : 0.0, format_lsn(m.start_lsn).c_str(), format_lsn(m.stop_lsn).c_str(),
        m.timeline);
    if (!ctx.expire)
        return Status::ok();
    std::fflush(stdout);
    s = expire_repository(*ctx.storage, ctx.settings, ExpireOptions{});
    if (!s.is_ok())
        return s.prefix("backup \"" + m.label + "\" is complete, but expire failed");
    return Status::ok();
}

}  // namespace

void add_backup_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<BackupContext>();
    CLI::App* cmd = app.add_subcommand(k_command,
        "Take a base backup of a running cluster into the repository (connects with libpq; the WAL it needs "
        "must be archived by walvault).");
    cmd->add_option("--pgdata,-D", ctx->pgdata, "data directory of the server (default: its data_directory)");
    cmd->add_option("--label", ctx->label, "name of the backup (default: the start time, 20261123T101500Z)");
    cmd->add_option("--dbname,-d", ctx->dbname,
        "connection string or URI (default: libpq's PGHOST, PGPORT, PGUSER, PGDATABASE, ~/.pgpass)");
    cmd->add_option("--checkpoint,-c", ctx->checkpoint,
        "\"fast\" (immediate checkpoint) or \"spread\" (the server's pace; default)");
    cmd->add_option("--archive-timeout", ctx->archive_timeout_s,
           "seconds to wait for the backup's last WAL segment to be archived (default " +
               std::to_string(k_default_archive_timeout_s) + ")")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--expire", ctx->expire,
        "after a successful backup, run expire with the retention settings (retain_full, retain_window)");
    add_setting_flags(*cmd, ctx->common, k_use_backup);
    on_run(*cmd, k_command, exit_code, [ctx] { return backup(*ctx); });
}

}  // namespace walvault
