// walvault restore: a backup from the repository into an empty data directory, ready for point-in-time
// recovery. Every file is fetched and checked (length and sha256) on --parallel workers, large ones written
// past the page cache; global/pg_control is written last, so a restore that fails half way leaves a
// directory PostgreSQL refuses to start. The recovery configuration (recovery.signal or standby.signal,
// restore_command, recovery_target_*) goes into postgresql.auto.conf; after it, `pg_ctl start` is all it takes.
// docs/restore.md explains the options.
#include "tool/commands/commands.h"

#include "core/codec/crc32c.h"
#include "core/codec/sha256.h"
#include "core/common/file_io.h"
#include "core/common/utc_time.h"
#include "core/config/recovery.h"
#include "core/config/settings.h"
#include "core/pgdata/data_dir.h"
#include "core/pgdata/pg_backup_manifest.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/backup_files.h"
#include "core/repo/delta_restore.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/wal_catalog.h"
#include "core/storage/posix/posix_storage.h"
#include "core/wal/wal_name.h"
#include "tool/progress.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace walvault {
namespace {

namespace fs = std::filesystem;

constexpr const char* k_command = "restore";
constexpr const char* k_pg_control = "global/pg_control";
constexpr const char* k_temp_suffix = ".walvault-tmp";  // "backup_label.walvault-tmp": a small file being written
// restore --delta moves the cluster's pg_control here before it changes anything, so that no server starts on
// the directory until the restore has written the backup's pg_control, and a rerun still knows the system.
constexpr const char* k_delta_control = "global/pg_control.walvault-delta";

struct RestoreContext {
    CommonOptions common;
    std::string which = "LATEST";
    std::string pgdata;
    std::string target_time, target_xid, target_lsn, target_name;
    bool target_immediate = false;
    bool target_exclusive = false;
    std::string target_action;
    std::string target_timeline;
    std::string archive_mode = "preserve";
    bool standby = false;
    bool force = false;
    bool delta = false;
    std::vector<std::string> tablespace_map;

    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    int parallel = 1;
    RecoverySettings recovery;
    BackupManifest manifest;
    std::map<uint32_t, std::string> tablespace_dest;  // oid -> where it goes
};

Status invalid(const std::string& message, const std::string& hint = {})
{
    return Status::error(Code::invalid, message, hint);
}

Status parse_target(RestoreContext& ctx)
{
    int given = 0;
    Status s;
    RecoveryTarget& t = ctx.recovery.target;
    if (!ctx.target_time.empty() && ++given)
        s = parse_target_time(ctx.target_time, t);
    if (s.is_ok() && !ctx.target_xid.empty() && ++given)
        s = parse_target_xid(ctx.target_xid, t);
    if (s.is_ok() && !ctx.target_lsn.empty() && ++given)
        s = parse_target_lsn(ctx.target_lsn, t);
    if (s.is_ok() && !ctx.target_name.empty() && ++given)
        s = parse_target_name(ctx.target_name, t);
    if (s.is_ok() && ctx.target_immediate && ++given)
        t.kind = RecoveryTarget::Kind::immediate;
    if (!s.is_ok())
        return s;
    if (given > 1)
        return invalid("give at most one of --target-time, --target-xid, --target-lsn, --target-name and "
                       "--target-immediate");
    ctx.recovery.target_action = ctx.target_action;
    ctx.recovery.target_timeline = ctx.target_timeline;
    ctx.recovery.target_exclusive = ctx.target_exclusive;
    if (t.kind == RecoveryTarget::Kind::none && (!ctx.target_action.empty() || ctx.target_exclusive))
        return invalid("--target-action and --target-exclusive need a recovery target (--target-time, ...)");
    return check_recovery_settings(ctx.recovery);
}

// Whether a backup can reach the target: its end (the point where it becomes consistent) must come first.
bool finished_before(const BackupManifest& m, const RecoveryTarget& t)
{
    switch (t.kind) {
    case RecoveryTarget::Kind::time: {
        int64_t stop = 0;
        // stop_time has whole seconds: count the backup as ending at the next second.
        return parse_utc_time(m.stop_time, stop).is_ok() && (stop + 1) * 1000000 <= t.time_us;
    }
    case RecoveryTarget::Kind::xid:
        return m.stop_next_xid <= t.xid;
    case RecoveryTarget::Kind::lsn:
        return m.stop_lsn <= t.lsn;
    default:
        return true;  // names, immediate and no target: any backup may do; PostgreSQL says if not
    }
}

std::string describe_target(const RecoveryTarget& t)
{
    switch (t.kind) {
    case RecoveryTarget::Kind::time:
        return "time " + t.value;
    case RecoveryTarget::Kind::xid:
        return "transaction " + t.value;
    case RecoveryTarget::Kind::lsn:
        return "LSN " + t.value;
    case RecoveryTarget::Kind::name:
        return "restore point \"" + t.value + "\"";
    case RecoveryTarget::Kind::immediate:
        return "the end of the backup";
    default:
        return "the end of the archived WAL";
    }
}

Status choose_backup(RestoreContext& ctx)
{
    RepoIdentity identity;
    Status s = read_identity(*ctx.storage, identity);
    if (s.code() == Code::not_found)
        return Status::error(Code::not_found,
            "repository \"" + ctx.storage->location() + "\" has no identity.json: it is not a walvault repository",
            "Check --repo (" + ctx.settings["repo"].source + ").");
    if (!s.is_ok())
        return s;
    std::vector<BackupRecord> backups;
    s = read_backup_catalog(*ctx.storage, backups);
    if (!s.is_ok())
        return s;
    std::vector<const BackupRecord*> complete;
    for (const BackupRecord& r : backups)
        if (r.complete)
            complete.push_back(&r);
    const RecoveryTarget& target = ctx.recovery.target;
    const BackupRecord* chosen = nullptr;
    if (ctx.which == "LATEST") {
        if (complete.empty())
            return Status::error(Code::not_found,
                "repository \"" + ctx.storage->location() + "\" has no complete backup",
                "Take one with walvault backup.");
        for (auto it = complete.rbegin(); it != complete.rend() && chosen == nullptr; ++it)
            if (finished_before((*it)->manifest, target))
                chosen = *it;
        if (chosen == nullptr)
            return Status::error(Code::not_found,
                "no backup finished before the recovery target (" + describe_target(target) + "); the oldest, \"" +
                    complete.front()->label + "\", finished at " + complete.front()->manifest.stop_time + " (LSN " +
                    format_lsn(complete.front()->manifest.stop_lsn) + ")",
                "A backup can only recover to points after its own end.");
    } else {
        for (const BackupRecord& r : backups)
            if (r.label == ctx.which)
                chosen = &r;
        if (chosen == nullptr) {
            std::string labels;
            for (const BackupRecord* r : complete)
                labels += (labels.empty() ? "" : ", ") + r->label;
            return Status::error(Code::not_found,
                "backup \"" + ctx.which + "\" is not in repository \"" + ctx.storage->location() + "\"",
                labels.empty() ? "The repository has no complete backup." : "Complete backups: " + labels + ".");
        }
        if (!chosen->complete)
            return Status::error(Code::not_found, "backup \"" + ctx.which + "\" is incomplete (it has no manifest)",
                "It was interrupted or is still running; walvault backup-delete removes it.");
        if (!finished_before(chosen->manifest, target))
            return invalid("backup \"" + ctx.which + "\" finished at " + chosen->manifest.stop_time + " (LSN " +
                    format_lsn(chosen->manifest.stop_lsn) + "), after the recovery target (" + describe_target(target) +
                    ")",
                "Choose an older backup, or let restore choose one by leaving out the label.");
    }
    ctx.manifest = chosen->manifest;
    if (ctx.manifest.system_identifier != identity.system_identifier)
        return Status::error(Code::conflict,
            "backup \"" + ctx.manifest.label + "\" is of database system " +
                std::to_string(ctx.manifest.system_identifier) + ", repository \"" + ctx.storage->location() +
                "\" belongs to database system " + std::to_string(identity.system_identifier));
    return Status::ok();
}

// Without --target-timeline, recovery follows the newest timeline (PostgreSQL's default, "latest"). Where the
// backup's lineage forks and both branches were archived on after the fork (a copy restored and promoted
// beside a primary that kept running, writing into the same repository), the newest timeline may be the
// copy's, and recovery would leave out everything the other branch holds. Refuse, and name the branches.
Status check_timeline_forks(RestoreContext& ctx)
{
    if (!ctx.target_timeline.empty())
        return Status::ok();  // the user chose a timeline
    std::vector<ObjectInfo> wal;
    Status s = ctx.storage->list(k_wal_prefix, wal);
    std::vector<TimelineFork> forks;
    const uint64_t segment_size = ctx.manifest.wal_segment_size;
    if (s.is_ok())
        s = read_timeline_forks(*ctx.storage, summarize_wal(wal, segment_size), segment_size, forks);
    if (!s.is_ok())
        return s;
    const std::vector<TimelineFork> live = live_forks_reached(forks, ctx.manifest.timeline, ctx.manifest.start_lsn);
    if (live.empty())
        return Status::ok();
    std::string branches;
    std::string choices;
    std::set<uint32_t> named;
    for (const TimelineFork& f : live) {
        auto when = [](int64_t t) { return t > 0 ? ", archived " + format_utc_time(t) : std::string(); };
        branches += "; timeline " + std::to_string(f.timeline) + " left timeline " + std::to_string(f.parent) + " at " +
            format_lsn(f.fork_lsn) + " (its newest segment: " +
            (f.last_segment.empty() ? std::string("none yet") : f.last_segment + when(f.last_time)) +
            "), and timeline " + std::to_string(f.parent) + " went on to " + f.parent_last_segment +
            (f.parent_last_time > 0 ? " (archived " + format_utc_time(f.parent_last_time) + ")" : "");
        for (uint32_t t : {f.parent, f.timeline})
            if (named.insert(t).second)
                choices += (choices.empty() ? "" : " or ") + std::string("--target-timeline ") + std::to_string(t);
    }
    return Status::error(Code::conflict,
        "the WAL archived after backup \"" + ctx.manifest.label + "\" forks into live branches" + branches,
        "Recovery would follow the newest timeline and leave out the other branch's commits. Choose one: " + choices +
            " (or --target-timeline latest for the newest). A copy restored for a test and promoted writes into "
            "the repository unless it was restored with --archive-mode off. walvault list shows the timelines.");
}

bool directory_is_empty(const std::string& path, std::error_code& ec)
{
    return fs::is_empty(path, ec);
}

// A directory holding postmaster.pid: a server may be running on it (a stale file from a crash is for the
// operator to judge, as pg_ctl does).
bool has_postmaster_pid(const fs::path& dir)
{
    std::error_code ec;
    return fs::exists(dir / "postmaster.pid", ec);
}

// Refuses a target that is, lies inside, or contains the data directory of a server that may be running:
// restoring there (with --force above all) would overwrite or remove that server's files, its pg_wal too.
Status check_no_running_cluster(const std::string& path, const std::string& what)
{
    std::error_code ec;
    fs::path target = fs::weakly_canonical(fs::absolute(path, ec), ec);
    const std::string hint = "Stop that server first (pg_ctl stop), or restore somewhere else; remove a "
                             "postmaster.pid only if no server runs.";
    for (fs::path dir = target.parent_path(); !dir.empty(); dir = dir.parent_path()) {
        if (has_postmaster_pid(dir))
            return invalid(what + " \"" + path + "\" lies inside the data directory \"" + dir.string() +
                    "\" of a server that may be running (it has a postmaster.pid)",
                hint);
        if (dir == dir.root_path())
            break;
    }
    if (!fs::is_directory(target, ec))
        return Status::ok();
    if (has_postmaster_pid(target))
        return invalid(what + " \"" + path + "\" has a postmaster.pid: a server may be running in it", hint);
    for (auto it = fs::recursive_directory_iterator(target, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_symlink(ec))
            it.disable_recursion_pending();  // a tablespace link: its target is not inside this directory
        else if (it->path().filename() == "postmaster.pid")
            return invalid(what + " \"" + path + "\" contains the data directory \"" +
                    it->path().parent_path().string() + "\" of a server that may be running (it has a postmaster.pid)",
                hint);
    }
    return Status::ok();
}

// pgdata must be empty or absent; with --force its contents are removed first, unless a server may run.
Status prepare_directory(const std::string& path, bool force, const std::string& what)
{
    std::error_code ec;
    Status running = check_no_running_cluster(path, what);
    if (!running.is_ok())
        return running;
    if (!fs::exists(path, ec)) {
        fs::create_directories(path, ec);
        if (ec || ::chmod(path.c_str(), 0700) != 0)
            return Status::error(Code::io_error, "could not create " + what + " \"" + path + "\": " + ec.message());
        return Status::ok();
    }
    if (!fs::is_directory(path, ec))
        return invalid(what + " \"" + path + "\" exists and is not a directory");
    if (directory_is_empty(path, ec))
        return Status::ok();
    if (ec)
        return Status::error(Code::io_error, "could not read " + what + " \"" + path + "\": " + ec.message());
    if (!force)
        return invalid(what + " \"" + path + "\" is not empty",
            "Restore into an empty directory, or pass --force to remove what is in it first.");
    for (const auto& entry : fs::directory_iterator(path, ec)) {
        fs::remove_all(entry.path(), ec);
        if (ec)
            return Status::error(Code::io_error, "could not remove \"" + entry.path().string() + "\": " + ec.message());
    }
    return Status::ok();
}

// The PG_<major>_<catversion> directory of a tablespace in the backup ("" if it has none).
std::string tablespace_version_dir(const BackupManifest& m, uint32_t oid)
{
    const std::string prefix = "pg_tblspc/" + std::to_string(oid) + "/";
    for (const BackupDirectory& d : m.directories)
        if (d.path.compare(0, prefix.size(), prefix) == 0 && d.path.find('/', prefix.size()) == std::string::npos)
            return d.path.substr(prefix.size());
    return {};
}

Status plan_tablespaces(RestoreContext& ctx)
{
    std::map<std::string, std::string> mapping;
    for (const std::string& item : ctx.tablespace_map) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            return invalid("--tablespace-map \"" + item + "\" is not OLD=NEW");
        const std::string to = item.substr(eq + 1);
        if (to[0] != '/')
            return invalid("--tablespace-map \"" + item + "\": NEW must be an absolute path");
        mapping[item.substr(0, eq)] = to;
    }
    std::set<std::string> used;
    for (const BackupTablespace& t : ctx.manifest.tablespaces) {
        std::string dest = t.location;
        for (const auto& key : {t.location, t.name, std::to_string(t.oid)})
            if (auto m = mapping.find(key); m != mapping.end()) {
                dest = m->second;
                used.insert(key);
            }
        ctx.tablespace_dest[t.oid] = dest;
    }
    for (const auto& [from, to] : mapping)
        if (!used.count(from)) {
            std::string known;
            for (const BackupTablespace& t : ctx.manifest.tablespaces)
                known += (known.empty() ? "" : ", ") + t.location + " (" + t.name + ")";
            return invalid(
                "--tablespace-map: backup \"" + ctx.manifest.label + "\" has no tablespace at \"" + from + "\"",
                known.empty() ? "The backup has no tablespaces." : "Its tablespaces: " + known + ".");
        }
    return Status::ok();
}

Status prepare_tablespaces(RestoreContext& ctx)
{
    for (const BackupTablespace& t : ctx.manifest.tablespaces) {
        const std::string& dest = ctx.tablespace_dest[t.oid];
        std::error_code ec;
        if (fs::equivalent(dest, ctx.pgdata, ec) || dest.rfind(ctx.pgdata + "/", 0) == 0)
            return invalid("tablespace \"" + t.name + "\" would be restored into the data directory (\"" + dest + "\")",
                "Map it elsewhere with --tablespace-map " + t.location + "=NEW.");
        Status running = check_no_running_cluster(dest, "tablespace directory");
        if (!running.is_ok())
            return running;
        const std::string version = tablespace_version_dir(ctx.manifest, t.oid);
        if (!fs::exists(dest, ec)) {
            fs::create_directories(dest, ec);
            if (ec || ::chmod(dest.c_str(), 0700) != 0)
                return Status::error(
                    Code::io_error, "could not create tablespace directory \"" + dest + "\": " + ec.message());
        } else if (!version.empty() && fs::exists(dest + "/" + version, ec)) {
            if (!ctx.force)
                return invalid("tablespace directory \"" + dest + "/" + version + "\" already exists",
                    "Restore the tablespace elsewhere with --tablespace-map " + t.location +
                        "=NEW, or pass --force to remove it first.");
            fs::remove_all(dest + "/" + version, ec);
            if (ec)
                return Status::error(
                    Code::io_error, "could not remove \"" + dest + "/" + version + "\": " + ec.message());
        }
    }
    return Status::ok();
}

Status make_directory(const std::string& path, uint32_t mode)
{
    if (::mkdir(path.c_str(), mode & 07777) != 0 && errno != EEXIST)
        return Status::error(Code::io_error, "could not create directory \"" + path + "\": " + errno_text(errno));
    ::chmod(path.c_str(), mode & 07777);
    return Status::ok();
}

Status create_tree(RestoreContext& ctx)
{
    for (const BackupDirectory& d : ctx.manifest.directories) {
        Status s = make_directory(ctx.pgdata + "/" + d.path, d.mode);
        if (!s.is_ok())
            return s;
        if (d.path == "pg_tblspc")
            for (const BackupTablespace& t : ctx.manifest.tablespaces) {
                const std::string link = ctx.pgdata + "/pg_tblspc/" + std::to_string(t.oid);
                if (::symlink(ctx.tablespace_dest[t.oid].c_str(), link.c_str()) != 0)
                    return Status::error(
                        Code::io_error, "could not create symbolic link \"" + link + "\": " + errno_text(errno));
            }
    }
    return Status::ok();
}

std::string self_path()
{
    std::error_code ec;
    const fs::path p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("walvault") : p.string();
}

// restore_command: this walvault binary, and the repository settings this run was given (flags and
// WALVAULT_* variables are not in the server's environment; a config file is passed by name). Secrets
// are never settings, so none lands in postgresql.auto.conf.
std::string restore_command(const RestoreContext& ctx)
{
    // PostgreSQL replaces %f, %p and %r in restore_command and reads %% as %.
    auto percent = [](std::string text) {
        for (size_t at = text.find('%'); at != std::string::npos; at = text.find('%', at + 2))
            text.insert(at, 1, '%');
        return text;
    };
    // "exec": PostgreSQL runs restore_command through sh -c once per segment; with exec the shell becomes
    // wal-fetch instead of forking it and waiting (~3 ms per call on the development VM, docs/benchmarks.md).
    std::string cmd = "exec " + shell_quote(percent(self_path())) + " wal-fetch";
    std::string config;
    for (const auto& [name, v] : ctx.settings) {
        // What wal-fetch reads, except parallel: this restore's number of workers is not the prefetcher's.
        if (!find_setting(name)->used_by(k_use_wal_fetch) || name == "parallel" || v.value.empty())
            continue;
        // Identities read from standard input cannot be read again by restore_command (docs/encryption.md).
        if (name == "encryption_identity_file" && v.value == "-")
            continue;
        if (v.source.rfind("--", 0) == 0 || v.source.rfind("WALVAULT_", 0) == 0) {
            std::string flag = name;
            std::replace(flag.begin(), flag.end(), '_', '-');
            cmd += " " + shell_quote(percent("--" + flag + "=" + v.value));
        } else if (const size_t colon = v.source.rfind(':'); colon != std::string::npos)
            config = v.source.substr(0, colon);
    }
    if (!config.empty())
        cmd += " " + shell_quote(percent("--config=" + config));
    return cmd + " %f %p";
}

Status write_recovery(RestoreContext& ctx)
{
    const std::string auto_conf = ctx.pgdata + "/postgresql.auto.conf";
    std::string text;
    {
        std::ifstream in(auto_conf, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    int removed = 0;
    text = strip_recovery_settings(text, &removed);
    if (!text.empty() && text.back() != '\n')
        text += '\n';
    ctx.recovery.restore_command = restore_command(ctx);
    ctx.recovery.archive_off = ctx.archive_mode == "off";
    text += render_recovery_settings(ctx.recovery,
        "walvault restore of backup \"" + ctx.manifest.label + "\" at " + format_utc_time(std::time(nullptr)));
    Status s = write_small_file(auto_conf, text, k_temp_suffix);
    if (!s.is_ok())
        return s;
    if (removed > 0)
        std::fprintf(stderr, "walvault %s: removed %d recovery setting(s) the backup's postgresql.auto.conf carried\n",
            k_command, removed);
    return write_small_file(ctx.pgdata + (ctx.standby ? "/standby.signal" : "/recovery.signal"), "", k_temp_suffix);
}

// A checksum as PostgreSQL's backup_manifest has it: algorithm and value.
using PgChecksum = std::pair<std::string, std::string>;

// checksums: those of the files restored from parts, which backup.json does not have (restore computed
// them, see FileRestore); every other file has its sha256 from backup.json.
Status write_pg_manifest(RestoreContext& ctx, const std::map<std::string, PgChecksum>& checksums)
{
    std::vector<PgManifestFile> files;
    for (const BackupFile& f : ctx.manifest.files) {
        const auto c = checksums.find(f.path);
        if (c == checksums.end())
            files.push_back({f.path, f.size, f.mtime, k_pg_checksum_sha256, f.sha256});
        else
            files.push_back({f.path, f.size, f.mtime, c->second.first, c->second.second});
    }
    const std::string& label = ctx.manifest.backup_label;
    int64_t stop = 0;
    // Only backup_label's Last-Modified, which pg_verifybackup does not check: 0 if stop_time is unreadable.
    (void)parse_utc_time(ctx.manifest.stop_time, stop);
    files.push_back({"backup_label", label.size(), stop, k_pg_checksum_sha256,
        sha256_hex(reinterpret_cast<const uint8_t*>(label.data()), label.size())});
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    const std::vector<PgManifestWalRange> wal = {
        {ctx.manifest.timeline, ctx.manifest.start_lsn, ctx.manifest.stop_lsn}};
    // In the format the backed-up server writes, which that major's pg_verifybackup reads.
    const PgManifestFormat format = pg_manifest_format_for(ctx.manifest.pg_version_num, ctx.manifest.system_identifier);
    return write_small_file(ctx.pgdata + "/backup_manifest", pg_backup_manifest(files, wal, format), k_temp_suffix);
}

// One syncfs() per file system written (the data directory's and each tablespace's): the files were
// written without an fsync each, so the kernel could write back while the next ones were decoded.
Status sync_file_systems(RestoreContext& ctx)
{
    std::vector<std::string> roots = {ctx.pgdata};
    for (const auto& [oid, dest] : ctx.tablespace_dest)
        roots.push_back(dest);
    std::set<dev_t> synced;
    for (const std::string& root : roots) {
        struct stat st;
        if (::stat(root.c_str(), &st) != 0)
            return Status::error(Code::io_error, "could not stat \"" + root + "\": " + errno_text(errno));
        if (!synced.insert(st.st_dev).second)
            continue;
        const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return Status::error(Code::io_error, "could not open directory \"" + root + "\": " + errno_text(errno));
        const int rc = ::syncfs(fd);
        const int err = errno;
        ::close(fd);
        if (rc != 0)
            return Status::error(
                Code::io_error, "could not sync the file system of \"" + root + "\": " + errno_text(err));
    }
    return Status::ok();
}

// After the files: the small files restore writes itself, everything made durable, then pg_control, which
// makes the directory startable.
Status finish_restore(RestoreContext& ctx, const BackupFile& control,
    const std::map<std::string, PgChecksum>& checksums, Progress& progress)
{
    Status s = sync_file_systems(ctx);
    if (s.is_ok())
        s = write_small_file(ctx.pgdata + "/backup_label", ctx.manifest.backup_label, k_temp_suffix);
    if (s.is_ok())
        s = write_recovery(ctx);
    if (s.is_ok())
        s = write_pg_manifest(ctx, checksums);
    // Everything durable before pg_control makes the directory startable.
    for (auto it = ctx.manifest.directories.rbegin(); s.is_ok() && it != ctx.manifest.directories.rend(); ++it)
        s = fsync_directory(ctx.pgdata + "/" + it->path);
    if (s.is_ok())
        s = fsync_directory(ctx.pgdata);
    if (s.is_ok()) {
        const std::string dest = ctx.pgdata + "/" + control.path;
        if (::unlink(dest.c_str()) != 0 && errno != ENOENT)  // restore --delta, run again after pg_control
            s = Status::error(Code::io_error, "could not remove \"" + dest + "\": " + errno_text(errno));
        if (s.is_ok())
            s = restore_backup_file(*ctx.storage, backup_file_key(ctx.manifest.label, control.path), dest, control);
        if (!s.is_ok())
            s.prefix("could not restore \"" + control.path + "\"");
        else
            progress.add(control.size);
    }
    if (s.is_ok())
        s = fsync_directory(ctx.pgdata + "/global");
    return s;
}

Status restore_files(RestoreContext& ctx, Progress& progress)
{
    std::vector<std::unique_ptr<FileRestore>> files;
    const BackupFile* control = nullptr;
    for (const BackupFile& f : ctx.manifest.files) {
        if (f.path == k_pg_control)
            control = &f;
        else
            files.push_back(std::make_unique<FileRestore>(
                f, backup_file_key(ctx.manifest.label, f.path), ctx.pgdata + "/" + f.path));
    }
    if (control == nullptr)
        return Status::error(Code::corrupt, "backup \"" + ctx.manifest.label + "\" has no " + k_pg_control);
    // One task per part (or whole file); largest file first, its parts side by side.
    struct Task {
        FileRestore* file;
        size_t index;
    };
    std::vector<Task> tasks;
    for (const auto& file : files)
        for (size_t i = 0; i < file->task_count(); i++)
            tasks.push_back({file.get(), i});
    std::stable_sort(tasks.begin(), tasks.end(),
        [](const Task& a, const Task& b) { return a.file->entry().size > b.file->entry().size; });
    Status s = run_parallel(tasks.size(), ctx.parallel, [&](size_t k) {
        const Task& t = tasks[k];
        const BackupFile& f = t.file->entry();
        Status st = t.file->restore_task(*ctx.storage, t.index);
        if (!st.is_ok())
            return st.prefix("could not restore \"" + f.path + "\"");
        progress.add(f.parts.empty() ? f.size : f.parts[t.index].size);
        return Status::ok();
    });
    std::map<std::string, PgChecksum> checksums;
    for (const auto& file : files)
        if (!file->entry().parts.empty())
            checksums[file->entry().path] = {file->checksum_algorithm(), file->checksum()};
    if (s.is_ok())
        s = finish_restore(ctx, *control, checksums, progress);
    return s;
}

// restore --delta refuses anything but the data directory of a stopped cluster of the backup's database
// system: the directory must exist, have no postmaster.pid, and carry that system's identifier in
// global/pg_control (or, after an interrupted delta restore, in the copy it moved aside).
Status check_delta_target(RestoreContext& ctx)
{
    Status s = check_no_running_cluster(ctx.pgdata, "data directory");
    if (!s.is_ok())
        return s;
    std::error_code ec;
    if (!fs::is_directory(ctx.pgdata, ec))
        return invalid("data directory \"" + ctx.pgdata + "\" does not exist",
            "restore --delta brings an existing data directory back to a backup; leave out --delta to restore into "
            "a new one.");
    const std::string control = ctx.pgdata + "/" + k_pg_control;
    const std::string moved = ctx.pgdata + "/" + k_delta_control;
    const bool has_control = fs::exists(control, ec);
    if (!has_control && !fs::exists(moved, ec))
        return invalid("data directory \"" + ctx.pgdata + "\" has no " + k_pg_control,
            "restore --delta works on the data directory of a stopped cluster of the backed-up database system; "
            "restore into an empty directory without --delta instead.");
    uint64_t id = 0;
    s = read_control_file_identifier(has_control ? control : moved, id);
    if (!s.is_ok())
        return s;
    if (id != ctx.manifest.system_identifier)
        return Status::error(Code::conflict,
            "data directory \"" + ctx.pgdata + "\" belongs to database system " + std::to_string(id) + ", backup \"" +
                ctx.manifest.label + "\" is of database system " + std::to_string(ctx.manifest.system_identifier),
            "restore --delta only rewrites a cluster of the backed-up database system; restore into an empty "
            "directory without --delta instead.");
    return Status::ok();
}

// Each tablespace's directory exists and pg_tblspc/<oid> links to it (a link elsewhere is replaced).
Status prepare_delta_tablespaces(RestoreContext& ctx)
{
    if (ctx.manifest.tablespaces.empty())
        return Status::ok();
    Status s = make_directory(ctx.pgdata + "/pg_tblspc", 0700);
    for (const BackupTablespace& t : ctx.manifest.tablespaces) {
        if (!s.is_ok())
            return s;
        const std::string& dest = ctx.tablespace_dest[t.oid];
        std::error_code ec;
        if (fs::equivalent(dest, ctx.pgdata, ec) || dest.rfind(ctx.pgdata + "/", 0) == 0)
            return invalid("tablespace \"" + t.name + "\" would be restored into the data directory (\"" + dest + "\")",
                "Map it elsewhere with --tablespace-map " + t.location + "=NEW.");
        s = check_no_running_cluster(dest, "tablespace directory");
        if (!s.is_ok())
            return s;
        if (!fs::exists(dest, ec)) {
            fs::create_directories(dest, ec);
            if (ec || ::chmod(dest.c_str(), 0700) != 0)
                return Status::error(
                    Code::io_error, "could not create tablespace directory \"" + dest + "\": " + ec.message());
        }
        const std::string link = ctx.pgdata + "/pg_tblspc/" + std::to_string(t.oid);
        if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec).string() == dest)
            continue;
        fs::remove_all(link, ec);
        if (ec)
            return Status::error(Code::io_error, "could not remove \"" + link + "\": " + ec.message());
        if (::symlink(dest.c_str(), link.c_str()) != 0)
            return Status::error(
                Code::io_error, "could not create symbolic link \"" + link + "\": " + errno_text(errno));
    }
    return s;
}

// A file restore --delta kept or patched gets the backup's length (created empty if it has none), mode and
// modification time.
Status set_file_attributes(const std::string& path, const BackupFile& f)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return Status::error(Code::io_error, "could not open file \"" + path + "\": " + errno_text(errno));
    struct stat st;
    const struct timespec times[2] = {{f.mtime, 0}, {f.mtime, 0}};
    int rc = ::fstat(fd, &st);
    if (rc == 0 && static_cast<uint64_t>(st.st_size) != f.size)
        rc = ::ftruncate(fd, static_cast<off_t>(f.size));
    if (rc == 0)
        rc = ::fchmod(fd, f.mode & 07777);
    if (rc == 0)
        rc = ::futimens(fd, times);
    const int err = errno;
    ::close(fd);
    if (rc != 0)
        return Status::error(
            Code::io_error, "could not set the length, mode and time of \"" + path + "\": " + errno_text(err));
    return Status::ok();
}

// What restore --delta did, for its summary line.
struct DeltaCounts {
    size_t kept_files = 0, rewritten_files = 0, removed_files = 0;
    uint64_t kept_bytes = 0, rewritten_bytes = 0, written_bytes = 0, removed_bytes = 0;
};

// One object (a whole file or one part) of a file the delta restore compares or writes.
struct DeltaTask {
    size_t file;                 // index into manifest.files
    std::optional<size_t> part;  // nullopt: the file is one object
    bool hash = false;           // compare with the local file first (else: write it whole)
    LocalObject local;
    std::vector<bool> rewrite;  // one per chunk
    uint32_t crc32c = 0;        // of the object's bytes as restored (files in parts)
};

Status restore_delta_files(RestoreContext& ctx, DeltaCounts& counts, Progress& progress)
{
    const BackupManifest& m = ctx.manifest;
    const BackupFile* control = nullptr;
    for (const BackupFile& f : m.files)
        if (f.path == k_pg_control)
            control = &f;
    if (control == nullptr)
        return Status::error(Code::corrupt, "backup \"" + m.label + "\" has no " + k_pg_control);
    // From now on no server starts here until pg_control is back: the backup's, written last.
    const std::string control_path = ctx.pgdata + "/" + k_pg_control;
    std::error_code ec;
    if (fs::exists(control_path, ec) &&
        ::rename(control_path.c_str(), (ctx.pgdata + "/" + k_delta_control).c_str()) != 0)
        return Status::error(Code::io_error, "could not rename \"" + control_path + "\": " + errno_text(errno));
    Status s = fsync_directory(ctx.pgdata + "/global");
    if (s.is_ok())
        s = prepare_delta_tablespaces(ctx);
    std::vector<std::pair<std::string, std::string>> versions;
    std::set<std::string> keep = {"backup_label", "backup_manifest", ctx.standby ? "standby.signal" : "recovery.signal",
        k_pg_control, k_delta_control};
    for (const BackupTablespace& t : m.tablespaces) {
        const std::string link = "pg_tblspc/" + std::to_string(t.oid);
        versions.emplace_back(link, tablespace_version_dir(m, t.oid));
        keep.insert(link);
    }
    std::vector<LocalEntry> local;
    if (s.is_ok())
        s = list_local_directory(ctx.pgdata, versions, local);
    if (!s.is_ok())
        return s;
    const DeltaPlan plan = plan_delta(m, local, keep);

    // What the backup does not have goes first (a file may stand where the backup has a directory).
    const std::set<std::string> removed(plan.remove.begin(), plan.remove.end());
    for (const LocalEntry& e : local) {
        bool gone = false;
        for (std::string p = e.path; !p.empty() && !gone; p = fs::path(p).parent_path().string())
            gone = removed.count(p) > 0;
        if (gone && e.type == LocalEntry::Type::file) {
            counts.removed_files++;
            counts.removed_bytes += e.size;
        }
    }
    for (const std::string& path : plan.remove) {
        fs::remove_all(ctx.pgdata + "/" + path, ec);
        if (ec)
            return Status::error(
                Code::io_error, "could not remove \"" + ctx.pgdata + "/" + path + "\": " + ec.message());
    }
    for (const BackupDirectory& d : m.directories) {
        s = make_directory(ctx.pgdata + "/" + d.path, d.mode);
        if (!s.is_ok())
            return s;
    }

    // Hash the local files, one task per object, on the workers; then rewrite what differs.
    std::vector<DeltaTask> tasks;
    auto add_tasks = [&](size_t file, bool hash) {
        const BackupFile& f = m.files[file];
        for (size_t i = 0; i < delta_object_count(f); i++) {
            DeltaTask t{file, f.parts.empty() ? std::nullopt : std::optional<size_t>(i), hash, {}, {}, 0};
            if (!hash)
                t.rewrite.assign(delta_chunk_count(delta_object(f, t.part).size), true);
            tasks.push_back(std::move(t));
        }
    };
    for (size_t i : plan.compare)
        add_tasks(i, true);
    for (size_t i : plan.write)
        add_tasks(i, false);
    s = run_parallel(tasks.size(), ctx.parallel, [&](size_t k) {
        DeltaTask& t = tasks[k];
        if (!t.hash)
            return Status::ok();
        const BackupFile& f = m.files[t.file];
        const DeltaObject object = delta_object(f, t.part);
        Status st = hash_local_object(ctx.pgdata + "/" + f.path, object, t.part.has_value(), t.local);
        if (st.is_ok())
            t.rewrite = chunks_to_rewrite(object, t.local);
        if (st.is_ok() && std::find(t.rewrite.begin(), t.rewrite.end(), true) == t.rewrite.end()) {
            t.crc32c = t.local.crc32c;
            progress.add(object.size);
        }
        return st;
    });
    if (!s.is_ok())
        return s;
    std::vector<size_t> patch;  // tasks with a chunk to write, largest object first
    for (size_t k = 0; k < tasks.size(); k++)
        if (std::find(tasks[k].rewrite.begin(), tasks[k].rewrite.end(), true) != tasks[k].rewrite.end())
            patch.push_back(k);
    std::stable_sort(patch.begin(), patch.end(), [&](size_t a, size_t b) {
        return delta_object(m.files[tasks[a].file], tasks[a].part).size >
            delta_object(m.files[tasks[b].file], tasks[b].part).size;
    });
    s = run_parallel(patch.size(), ctx.parallel, [&](size_t k) {
        DeltaTask& t = tasks[patch[k]];
        const BackupFile& f = m.files[t.file];
        Status st = patch_backup_object(*ctx.storage, backup_file_key(m.label, f.path), f, t.part,
            ctx.pgdata + "/" + f.path, t.rewrite, t.part ? &t.crc32c : nullptr);
        if (!st.is_ok())
            return st.prefix("could not restore \"" + f.path + "\"");
        progress.add(delta_object(f, t.part).size);
        return Status::ok();
    });
    if (!s.is_ok())
        return s;

    // Each file's length, mode and time as the backup has them; the checksums of files in parts.
    std::map<size_t, std::vector<const DeltaTask*>> by_file;
    for (const DeltaTask& t : tasks)
        by_file[t.file].push_back(&t);
    std::map<std::string, PgChecksum> checksums;
    for (const auto& [file, objects] : by_file) {
        const BackupFile& f = m.files[file];
        const std::string path = ctx.pgdata + "/" + f.path;
        uint64_t written = 0;
        for (const DeltaTask* t : objects) {
            const DeltaObject object = delta_object(f, t->part);
            for (size_t c = 0; c < t->rewrite.size(); c++)
                if (t->rewrite[c])
                    written += std::min<uint64_t>(k_delta_chunk_bytes, object.size - c * k_delta_chunk_bytes);
        }
        if (written > 0) {
            counts.rewritten_files++;
            counts.rewritten_bytes += f.size;
            counts.written_bytes += written;
        } else {
            counts.kept_files++;
            counts.kept_bytes += f.size;
        }
        s = set_file_attributes(path, f);
        if (!s.is_ok())
            return s;
        if (f.parts.empty())
            continue;
        std::vector<uint32_t> crcs;
        for (const DeltaTask* t : objects)
            crcs.push_back(t->crc32c);
        std::string value;
        if (combine_part_crc32c(f, crcs, value)) {
            checksums[f.path] = {k_pg_checksum_crc32c, value};
            continue;
        }
        uint64_t length = 0;  // the parts' CRC-32C do not combine: the file is read back, as a full restore does
        s = sha256_file(path, value, length);
        if (!s.is_ok())
            return s;
        checksums[f.path] = {k_pg_checksum_sha256, value};
    }
    s = finish_restore(ctx, *control, checksums, progress);
    if (s.is_ok() && ::unlink((ctx.pgdata + "/" + k_delta_control).c_str()) != 0 && errno != ENOENT)
        s = Status::error(
            Code::io_error, "could not remove \"" + ctx.pgdata + "/" + k_delta_control + "\": " + errno_text(errno));
    if (s.is_ok())
        s = fsync_directory(ctx.pgdata + "/global");
    return s;
}

Status restore(RestoreContext& ctx)
{
    Status s = check_data_directory_creator(::geteuid(), k_command);
    if (!s.is_ok())
        return s;
    if (ctx.pgdata.empty() || ctx.pgdata[0] != '/') {
        std::error_code ec;
        ctx.pgdata = fs::absolute(ctx.pgdata, ec).lexically_normal().string();
    }
    while (ctx.pgdata.size() > 1 && ctx.pgdata.back() == '/')
        ctx.pgdata.pop_back();
    s = parse_target(ctx);
    if (s.is_ok() && ctx.delta && ctx.force)
        s = invalid("--delta and --force cannot be combined",
            "--delta keeps what already matches the backup; --force removes everything first.");
    if (s.is_ok())
        s = open_repository(ctx.common, ctx.settings, ctx.storage);
    if (!s.is_ok())
        return s;
    ctx.parallel = static_cast<int>(setting_int(ctx.settings, "parallel"));
    s = choose_backup(ctx);
    if (s.is_ok())
        s = check_timeline_forks(ctx);
    if (s.is_ok())
        s = plan_tablespaces(ctx);
    if (s.is_ok() && ctx.delta)
        s = check_delta_target(ctx);
    // Both --force and --delta remove the old pg_wal: first what only it holds goes into the repository.
    OldWal old_wal;
    if (s.is_ok() && (ctx.force || ctx.delta)) {
        s = save_old_wal(*ctx.storage, ctx.settings, ctx.pgdata, old_wal);
        if (!s.is_ok())
            s = Status::error(s.code(), "nothing was removed: " + s.message(), s.hint());
    }
    if (s.is_ok() && !old_wal.archived.empty())
        std::printf("archived from the old pg_wal before replacing it: %zu files the repository lacked (%s .. %s)%s\n",
            old_wal.archived.size(), old_wal.archived.front().c_str(), old_wal.archived.back().c_str(),
            old_wal.partial.empty() ? "" : ("; the segment in progress as " + old_wal.partial).c_str());
    if (s.is_ok() && !ctx.delta)
        s = prepare_directory(ctx.pgdata, ctx.force, "data directory");
    if (s.is_ok() && !ctx.delta)
        s = prepare_tablespaces(ctx);
    if (s.is_ok() && !ctx.delta)
        s = create_tree(ctx);
    if (!s.is_ok())
        return s;
    Progress progress(ctx.manifest.original_size(), "restored");
    DeltaCounts counts;
    s = ctx.delta ? restore_delta_files(ctx, counts, progress) : restore_files(ctx, progress);
    progress.stop();
    if (!s.is_ok()) {
        s.prefix("restore of backup \"" + ctx.manifest.label + "\" failed");
        return Status::error(s.code(), s.message(),
            "The data directory \"" + ctx.pgdata + "\" is incomplete and has no " + k_pg_control +
                ", so no server can start on it. Fix the cause and run restore again with " +
                (ctx.delta ? "--delta" : "--force") + ".");
    }
    const BackupManifest& m = ctx.manifest;
    if (ctx.delta)
        std::printf("restored backup \"%s\" into \"%s\" (delta): %zu files kept (%s), %zu rewritten (%s, of which %s "
                    "written), %zu removed (%s), in %.1f s\n",
            m.label.c_str(), ctx.pgdata.c_str(), counts.kept_files, format_bytes(counts.kept_bytes).c_str(),
            counts.rewritten_files, format_bytes(counts.rewritten_bytes).c_str(),
            format_bytes(counts.written_bytes).c_str(), counts.removed_files,
            format_bytes(counts.removed_bytes).c_str(), progress.elapsed_seconds());
    else
        std::printf("restored backup \"%s\" into \"%s\": %zu files, %s, in %.1f s\n", m.label.c_str(),
            ctx.pgdata.c_str(), m.files.size(), format_bytes(m.original_size()).c_str(), progress.elapsed_seconds());
    std::printf("recovery: %s%s, restore_command = '%s'\n", describe_target(ctx.recovery.target).c_str(),
        ctx.standby ? " as a standby" : "", ctx.recovery.restore_command.c_str());
    if (ctx.recovery.archive_off)
        std::printf(
            "archiving: off (archive_mode = off in postgresql.auto.conf): this copy writes into no repository\n");
    else
        std::printf("archiving: as the backup has it (--archive-mode preserve): once promoted, a copy with "
                    "archive_mode on archives a new timeline into its walvault.repo\n");
    std::printf("start the server with: pg_ctl -D %s start\n", shell_quote(ctx.pgdata).c_str());
    return Status::ok();
}

}  // namespace

void add_restore_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<RestoreContext>();
    CLI::App* cmd = app.add_subcommand(k_command,
        "Restore a backup into an empty data directory and configure recovery (to the end of the archived WAL, "
        "or to a target).");
    cmd->add_option("BACKUP", ctx->which,
        "LATEST (default) or a backup label; with a target and no label, the newest backup that finished before "
        "the target");
    cmd->add_option("--pgdata,-D", ctx->pgdata, "data directory to restore into (created if absent)")->required();
    cmd->add_option("--target-time", ctx->target_time,
        "recover to this time: \"YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]|Z]\" (without a zone: the local time zone)");
    cmd->add_option("--target-xid", ctx->target_xid, "recover to the commit of this transaction id");
    cmd->add_option("--target-lsn", ctx->target_lsn, "recover to this WAL location (16/B374D848)");
    cmd->add_option("--target-name", ctx->target_name, "recover to this restore point (pg_create_restore_point)");
    cmd->add_flag("--target-immediate", ctx->target_immediate, "recover only until the backup is consistent");
    cmd->add_flag("--target-exclusive", ctx->target_exclusive,
        "stop just before the target instead of just after it (recovery_target_inclusive = off)");
    cmd->add_option("--target-action", ctx->target_action,
        "at the target: \"pause\" (PostgreSQL's default), \"promote\" or \"shutdown\"");
    cmd->add_option(
        "--target-timeline", ctx->target_timeline, "\"latest\" (PostgreSQL's default), \"current\" or a timeline id");
    cmd->add_flag("--standby", ctx->standby, "write standby.signal instead of recovery.signal");
    cmd->add_option("--archive-mode", ctx->archive_mode,
           "\"preserve\" (default): archive_mode as the backup has it, so a promoted copy archives where the backed-up "
           "server did; \"off\": archive_mode = off, so this copy never writes into a repository")
        ->check(CLI::IsMember({"off", "preserve"}));
    cmd->add_option("--tablespace-map", ctx->tablespace_map,
        "OLD=NEW: restore the tablespace at OLD (its location, name or oid) to the directory NEW; repeatable");
    cmd->add_flag("--force", ctx->force,
        "remove what the data directory (and each tablespace's version directory) holds before restoring; the WAL "
        "in its pg_wal that the repository lacks is archived first (the segment in progress as a .partial)");
    cmd->add_flag("--delta", ctx->delta,
        "bring the existing data directory of a stopped cluster of the same database system back to the backup: "
        "keep the files (and 1 MiB chunks of files) that match it, rewrite the rest, remove what it does not have; "
        "the WAL in its pg_wal that the repository lacks is archived first");
    add_setting_flags(*cmd, ctx->common, k_use_restore);
    on_run(*cmd, k_command, exit_code, [ctx] { return restore(*ctx); });
}

}  // namespace walvault
