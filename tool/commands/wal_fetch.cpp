// walvault wal-fetch FILE DEST: the restore_command of walvault. Fetches one WAL file (segment, .history,
// .partial) from the repository, decompresses it, checks its length and XXH3-128 (sha256 for objects of an
// older walvault) against the object's metadata, and writes DEST atomically. Exit 1, silently, when the repository does
// not have the file (PostgreSQL probes for files that do not exist); exit k_exit_fatal on anything else, so that a
// damaged object or an unreachable store stops recovery instead of ending it early at the wrong point. Run by
// PostgreSQL in a data directory, it also keeps a prefetcher running there (docs/restore.md, "Prefetch"), which
// downloads the next segments into pg_wal/walvault-spool; a segment found there, verified, is served by a rename.
// Nothing about prefetching ever changes the exit status.
#include "tool/commands/commands.h"

#include "core/common/file_io.h"
#include "core/config/settings.h"
#include "core/pgdata/data_dir.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/repo/wal_catalog.h"
#include "core/repo/wal_spool.h"
#include "core/repo/wal_stream.h"
#include "core/wal/timeline_history.h"
#include "core/wal/wal_name.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>

namespace walvault {
namespace {

constexpr const char* k_command = "wal-fetch";
constexpr const char* k_temp_suffix = ".walvault-tmp";
constexpr const char* k_lock_fd_option = "--prefetch-lock-fd";  // internal: marks the prefetcher process
constexpr int k_prefetcher_lock_fd = 3;                         // where the prefetcher finds its lock
constexpr const char* k_postmaster_pid_file = "postmaster.pid";

struct WalFetchContext {
    CommonOptions common;
    std::string file;
    std::string dest;
    int prefetch_lock_fd = -1;  // set only in the prefetcher process: FILE is the position, DEST the data directory
};

// Fetches the object under key, which must hold `name`, into DEST + suffix, zero-filled up to pad_to bytes
// (a streamed prefix: PostgreSQL reads only full-size segments), then renames: PostgreSQL never sees a partial
// file under DEST.
Status fetch_object(
    Storage& storage, const std::string& key, const std::string& name, const WalFetchContext& ctx, uint64_t pad_to = 0)
{
    const std::string temp = ctx.dest + k_temp_suffix;
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return Status::error(Code::io_error, "could not create file \"" + temp + "\": " + errno_text(errno));
    ObjectMeta meta;
    Status s = decode_object_fast(
        storage, key, [&](const uint8_t* d, size_t n) { return write_all(fd, d, n, temp); },
        [&] { return rewind_file(fd, temp); }, meta);
    if (s.is_ok() && meta.name != name)
        s = Status::error(Code::corrupt,
            "object \"" + storage.location(key) + "\" holds \"" + meta.name + "\", not \"" + name + "\"");
    if (s.is_ok() && pad_to > meta.length && ::ftruncate(fd, static_cast<off_t>(pad_to)) != 0)
        s = Status::error(Code::io_error, "could not extend file \"" + temp + "\": " + errno_text(errno));
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

Status fetch(Storage& storage, const WalFetchContext& ctx)
{
    const auto wal = parse_wal_name(ctx.file);
    if (!wal)
        return Status::error(Code::invalid, "\"" + ctx.file + "\" is not a WAL file name",
            "Use restore_command = 'exec walvault wal-fetch %f %p' (file name first, destination second).");
    return fetch_object(storage, wal_object_key(*wal), wal->text, ctx);
}

// A segment that is missing where the archive of its timeline ends may be there as "<segment>.partial": the
// newest segment of a data directory that restore --force replaced (archived from its pg_wal first), or one
// that a promotion left; or, without one, as prefixes streamed by walvault receive, of which the longest is
// served, zero-filled to the segment size as PostgreSQL expects (it stops at the first invalid record). It is served
// under the segment's name, so that recovery replays the WAL in it up to its end and then finds nothing more, when
//  - recovery is not a standby's (standby.signal): a standby would replay the partial, then ask for the
//    segment again and again, and must wait for the whole one (from the archive or by streaming);
//  - no timeline in the repository left this one before the segment's end (probing the history files
//    after it, as PostgreSQL does): that branch holds the segment, and the partial's bytes after the branch
//    point are another history.
// served tells whether it was; any failure to read is an error, never "not there".
Status fetch_partial(
    Storage& storage, const WalFetchContext& ctx, const WalName& wal, uint64_t segment_size, bool& served)
{
    served = false;
    struct stat st;
    if (::stat("standby.signal", &st) == 0)
        return Status::ok();
    const auto partial = parse_wal_name(wal.text + ".partial");
    if (!partial)
        return Status::ok();
    ObjectInfo info;
    Status s = storage.head(wal_object_key(*partial), info);
    // No .partial: the longest prefix walvault receive streamed, if any.
    std::optional<StreamPrefix> streamed;
    if (s.code() == Code::not_found) {
        std::vector<StreamPrefix> prefixes;
        s = list_stream_prefixes(storage, wal, prefixes);
        if (!s.is_ok())
            return s;
        if (prefixes.empty())
            return Status::ok();
        streamed = prefixes.back();
    }
    if (!s.is_ok())
        return s;
    const uint64_t end = (segment_number(wal, segment_size) + 1) * segment_size;
    for (uint32_t timeline = wal.timeline + 1; timeline != 0; ++timeline) {
        std::vector<TimelineSwitch> history;
        s = read_timeline_history(storage, timeline, history);
        if (s.code() == Code::not_found)
            break;
        if (!s.is_ok())
            return s;
        if (const auto left = switch_point_from(history, wal.timeline); left && *left < end)
            return Status::ok();
    }
    if (streamed) {
        s = fetch_object(storage, stream_prefix_key(wal, streamed->length), stream_prefix_name(wal, streamed->length),
            ctx, segment_size);
        if (!s.is_ok())
            return s;
        served = true;
        std::fprintf(stderr,
            "walvault wal-fetch: restored \"%s\" from its first %llu bytes streamed by walvault receive, zero-filled: "
            "recovery replays the WAL in them and ends there\n",
            wal.text.c_str(), static_cast<unsigned long long>(streamed->length));
        return Status::ok();
    }
    s = fetch_object(storage, wal_object_key(*partial), partial->text, ctx);
    if (!s.is_ok())
        return s;
    served = true;
    std::fprintf(stderr,
        "walvault wal-fetch: restored \"%s\" from \"%s\": the repository holds the end of timeline %u only as a "
        "partial segment; recovery replays the WAL in it and ends there\n",
        wal.text.c_str(), partial->text.c_str(), wal.timeline);
    return Status::ok();
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

// ---- prefetch ---------------------------------------------------------------------------------------------

// The postmaster of the data directory in the working directory, if it runs.
pid_t running_postmaster()
{
    std::ifstream in(k_postmaster_pid_file);
    long pid = 0;
    if (!(in >> pid) || pid <= 0 || pid > INT_MAX)
        return 0;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM ? static_cast<pid_t>(pid) : 0;
}

// Prefetch applies when PostgreSQL runs us for a segment, in its data directory, with prefetch on.
struct SpoolUse {
    WalSpool spool{k_spool_dir};
    SpoolMarker expected;  // repository and this data directory's system (the segment size is the marker's)
};

std::optional<SpoolUse> spool_use(const ResolvedSettings& settings, const Storage& storage, const WalFetchContext& ctx)
{
    const auto wal = parse_wal_name(ctx.file);
    if (!wal || wal->kind != WalKind::segment || static_cast<int>(setting_int(settings, "prefetch")) <= 0)
        return std::nullopt;
    struct stat st;
    if (::stat("global/pg_control", &st) != 0 || !S_ISREG(st.st_mode) || ::stat("pg_wal", &st) != 0 ||
        !S_ISDIR(st.st_mode))
        return std::nullopt;
    SpoolUse use;
    if (!read_system_identifier(".", use.expected.system_identifier).is_ok())
        return std::nullopt;
    use.expected.repository = storage.identity();  // the store itself: one bucket name may be two stores
    return use;
}

void count(SpoolUse& use, const SpoolStats& delta)
{
    (void)use.spool.add_stats(delta);  // statistics only: wal-fetch's result does not depend on them
}

// Serves ctx.file from the spool if a verified copy is there (waiting for a download of it under way).
bool serve_from_spool(SpoolUse& use, const WalFetchContext& ctx)
{
    const auto wal = parse_wal_name(ctx.file);
    const Status s = use.spool.take(*wal, use.expected, ctx.dest);
    if (s.is_ok()) {
        count(use, {1, 0, 0});
        return true;
    }
    if (s.code() == Code::corrupt) {
        print_error(k_command, Status::error(Code::corrupt, s.message() + ": fetching it from the repository"));
        count(use, {0, 0, 1});
    }
    return false;
}

// Starts the prefetcher, detached: a child that starts a grandchild in a new session and exits at once (so
// nothing is left to reap and the prefetcher outlives us), with stdio on /dev/null, no inherited descriptor
// but the locked lock_fd (as descriptor k_prefetcher_lock_fd), default signals, and the settings we were
// given. Everything the children need is prepared before fork(): after it they only call async-signal-safe
// functions.
void start_prefetcher(const WalFetchContext& ctx, int lock_fd, const std::string& data_dir)
{
    std::vector<std::string> args = {
        "walvault", k_command, std::string(k_lock_fd_option) + "=" + std::to_string(k_prefetcher_lock_fd)};
    for (const auto& [name, value] : ctx.common.flags)
        args.push_back("--" + name + "=" + value);
    if (!ctx.common.config.empty())
        args.push_back("--config=" + ctx.common.config);
    args.push_back(ctx.file);
    args.push_back(data_dir);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    const long open_max = std::min<long>(std::max<long>(::sysconf(_SC_OPEN_MAX), 256), 65536);

    const pid_t child = ::fork();
    if (child < 0)
        return;
    if (child == 0) {
        ::setsid();
        const pid_t grandchild = ::fork();
        if (grandchild != 0)
            ::_exit(grandchild < 0 ? 1 : 0);
        const int lock = ::fcntl(lock_fd, F_DUPFD, 10);  // out of the way of 0-3
        const int null = ::open("/dev/null", O_RDWR);
        if (lock < 0 || null < 0)
            ::_exit(1);
        for (int fd = 0; fd <= 2; ++fd)
            ::dup2(null, fd);
        ::dup2(lock, k_prefetcher_lock_fd);  // dup2 leaves the new descriptor without FD_CLOEXEC
        if (::close_range(k_prefetcher_lock_fd + 1, ~0U, 0) != 0)
            for (int fd = k_prefetcher_lock_fd + 1; fd < open_max; ++fd)
                ::close(fd);
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction dfl { };
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2})
            ::sigaction(sig, &dfl, nullptr);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) { }
}

// Tells the prefetcher where recovery is, and starts one if none runs (its lock is free) and the server does.
void notify_prefetcher(SpoolUse& use, const WalFetchContext& ctx)
{
    if (::mkdir(use.spool.dir().c_str(), 0700) != 0 && errno != EEXIST)
        return;
    if (!use.spool.write_position({ctx.file, use.expected.repository, use.expected.system_identifier}).is_ok())
        return;
    if (running_postmaster() == 0)
        return;  // run by hand in a stopped data directory: nobody to prefetch for
    const std::string lock_path = use.spool.path(k_spool_lock_file);
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        char cwd[PATH_MAX];
        if (::getcwd(cwd, sizeof(cwd)) != nullptr)
            start_prefetcher(ctx, fd, cwd);
    }
    ::close(fd);  // the prefetcher holds the lock through its own descriptor
}

volatile std::sig_atomic_t g_stop_requested = 0;

extern "C" void on_stop_signal(int)
{
    g_stop_requested = 1;
}

// The prefetcher process (started by notify_prefetcher): owns the spool while it holds the lock, and
// prefetches for as long as recovery moves on, the archive has more, and the postmaster lives. Its exit
// status is read by nobody.
int run_prefetcher_process(const WalFetchContext& ctx)
{
    const int lock_fd = ctx.prefetch_lock_fd;
    const std::string lock_path = std::string(k_spool_dir) + "/" + k_spool_lock_file;
    struct stat held, named;
    if (::chdir(ctx.dest.c_str()) != 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0 || ::fstat(lock_fd, &held) != 0 ||
        ::stat(lock_path.c_str(), &named) != 0 || held.st_dev != named.st_dev || held.st_ino != named.st_ino)
        return k_exit_failure;  // not started by wal-fetch with the spool's lock held
    ::fcntl(lock_fd, F_SETFD, FD_CLOEXEC);
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd, 0) != 0 || ::pwrite(lock_fd, pid.data(), pid.size(), 0) < 0)
        return k_exit_failure;

    struct sigaction stop { };
    stop.sa_handler = on_stop_signal;
    ::sigemptyset(&stop.sa_mask);
    ::sigaction(SIGTERM, &stop, nullptr);
    ::sigaction(SIGINT, &stop, nullptr);
    struct sigaction ignore { };
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGHUP, &ignore, nullptr);
    ::sigaction(SIGPIPE, &ignore, nullptr);

    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    RepoIdentity identity;
    uint64_t ours = 0;
    Status s = open_repository(ctx.common, settings, storage);
    if (s.is_ok())
        s = read_identity(*storage, identity);
    if (s.is_ok())
        s = read_system_identifier(".", ours);
    if (!s.is_ok() || identity.system_identifier != ours)
        return k_exit_failure;  // wal-fetch fetches directly and says what is wrong
    const SpoolMarker marker{storage->identity(), ours, identity.wal_segment_size, {}};  // boot id: adopt() writes it
    WalSpool spool(k_spool_dir);
    if (!spool.adopt(marker).is_ok())
        return k_exit_failure;

    const pid_t postmaster = running_postmaster();
    PrefetchOptions options;
    options.window = static_cast<int>(setting_int(settings, "prefetch"));
    options.parallel = static_cast<int>(setting_int(settings, "parallel"));
    options.keep_going = [postmaster] {
        return g_stop_requested == 0 && postmaster > 0 && (::kill(postmaster, 0) == 0 || errno == EPERM);
    };
    PrefetchResult result;
    s = run_prefetcher(spool, *storage, marker, options, result);
    return s.is_ok() ? k_exit_ok : k_exit_failure;
}

int run(const WalFetchContext& ctx)
{
    if (ctx.prefetch_lock_fd >= 0)
        return run_prefetcher_process(ctx);
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    // The identities only once an object is read: a copy served from the spool is plain, and loading them
    // (libcrypto, an X25519 key per identity) would double the cost of such a call (docs/benchmarks.md,
    // "wal-fetch loads the identities only to decode"). The prefetcher, which decrypts, loads them at its start.
    Status s = open_repository_storage(ctx.common, settings, storage);

    // A verified prefetched copy needs no round trip: the spool's marker vouches for the repository and
    // the system it came from, which the prefetcher checked against the identity when it adopted the spool.
    std::optional<SpoolUse> spool;
    if (s.is_ok()) {
        try {
            spool = spool_use(settings, *storage, ctx);
            if (spool && serve_from_spool(*spool, ctx)) {
                notify_prefetcher(*spool, ctx);
                return k_exit_ok;
            }
        } catch (const std::exception&) {
            spool.reset();  // prefetching is an optimization: fetch directly
        }
    }

    if (s.is_ok())
        s = load_identities(settings);
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
    if (s.is_ok()) {
        if (spool) {
            try {
                count(*spool, {0, 1, 0});
                notify_prefetcher(*spool, ctx);
            } catch (const std::exception&) {
            }
        }
        return k_exit_ok;
    }
    if (s.code() == Code::not_found) {
        const auto wal = parse_wal_name(ctx.file);
        std::optional<std::string> later;
        Status gap;
        if (wal && wal->kind == WalKind::segment)
            gap = find_later_segment(*storage, *wal, identity.wal_segment_size, later);
        if (gap.is_ok() && !later && wal && wal->kind == WalKind::segment) {
            bool served = false;
            gap = fetch_partial(*storage, ctx, *wal, identity.wal_segment_size, served);
            if (gap.is_ok() && served)
                return k_exit_ok;
        }
        if (gap.is_ok() && !later)
            return k_exit_failure;  // quietly: PostgreSQL asks for files that do not exist
        s = !gap.is_ok()
            ? gap
            : Status::error(Code::not_found,
                  "\"" + ctx.file + "\" is missing from the repository, but later WAL that needs it is there (\"" +
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
        "Restore one WAL file from the repository (restore_command = 'exec walvault wal-fetch %f %p'). Exits 1 if the "
        "repository does not have it, " +
            std::to_string(k_exit_fatal) +
            " on any other failure, a misspelled command line included. Run by the server, it also prefetches the next "
            "segments (setting prefetch).");
    cmd->add_option("FILE", ctx->file, "WAL file name (%f)")->required();
    cmd->add_option("DEST", ctx->dest, "destination path (%p)")->required();
    cmd->add_option(k_lock_fd_option, ctx->prefetch_lock_fd, "internal: the prefetcher process")->group("");
    add_setting_flags(*cmd, ctx->common, k_use_wal_fetch);
    cmd->callback([ctx, &exit_code] { exit_code = run(*ctx); });
}

}  // namespace walvault
