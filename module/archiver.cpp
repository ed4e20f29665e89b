// The C++ side of archiving: a settings snapshot, a look-ahead scheduler and worker threads.
// PostgreSQL hands us one file at a time and waits; we also start the next .ready files so that later
// calls find their file already done. A file is reported done only when its own upload is verified.
// Worker threads move bytes only; they never call PostgreSQL. Every entry point catches everything.
#include "module/bridge.h"

#include "core/config/settings.h"
#include "core/repo/identity.h"
#include "core/repo/wal_archive.h"
#include "core/wal/wal_name.h"

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace walvault {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* k_ready_suffix = ".ready";
constexpr auto k_unclaimed_ttl = std::chrono::minutes(10);  // look-ahead results PostgreSQL never asked for
constexpr int k_mmap_threshold_bytes = 128 * 1024;          // glibc's initial default, kept fixed
constexpr int k_malloc_arenas = 2;

// The settings that are GUCs, in the order of wv_setting_defs() (and so of wv_settings::values).
const std::vector<const SettingDef*>& module_settings()
{
    static const std::vector<const SettingDef*> k_defs = [] {
        std::vector<const SettingDef*> out;
        for (const SettingDef& def : all_settings())
            if (def.is_guc())
                out.push_back(&def);
        return out;
    }();
    return k_defs;
}

// Everything that depends on the settings; replaced as a whole when they change.
struct Context {
    Settings settings;
    std::unique_ptr<Storage> storage;
    RepoIdentity identity;
    std::mutex identity_mutex;
    bool identity_checked = false;

    Status check_identity()
    {
        std::lock_guard<std::mutex> lock(identity_mutex);
        if (identity_checked)
            return Status::ok();
        Status s = ensure_identity(*storage, identity);
        identity_checked = s.is_ok();
        return s;
    }
};

struct Job {
    std::string name;
    std::string path;
    std::shared_ptr<Context> context;
    bool requested = false;  // PostgreSQL asked for this file (as opposed to look-ahead)
    bool running = false;    // a worker has it
    bool done = false;
    Status status;
    ArchiveReport report;
    Clock::time_point started;
    Clock::time_point finished;
};

void copy_message(char* dst, const std::string& src)
{
    const size_t n = std::min(src.size(), static_cast<size_t>(WV_MESSAGE_LEN - 1));
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
}

class Archiver {
public:
    wv_status archive(const wv_settings& settings, const std::string& file, const std::string& path, int wait_ms,
        wv_file_result& result);
    void shutdown(int wait_ms);

private:
    Status apply_settings(const wv_settings& settings);
    void submit(const std::string& name, const std::string& path, bool requested);
    void look_ahead(const std::string& wal_dir, bool rescan);
    void ensure_workers();
    void worker_main();
    size_t in_flight() const;
    uint64_t unreported() const;
    wv_status archive_locked(std::unique_lock<std::mutex>& lock, const wv_settings& settings, const std::string& file,
        const std::string& path, int wait_ms, wv_file_result& result);

    std::mutex m_mutex;
    std::condition_variable m_work_cv;
    std::condition_variable m_done_cv;
    std::string m_settings_key;
    std::shared_ptr<Context> m_context;
    std::deque<std::shared_ptr<Job>> m_queue;
    std::unordered_map<std::string, std::shared_ptr<Job>> m_jobs;  // by file name, until claimed
    // Jobs that were running when the settings changed. They still hold their object's temp file, so a
    // new attempt at the same file waits for them, and adopts the result if it is in the same repository.
    std::unordered_map<std::string, std::shared_ptr<Job>> m_retired;
    std::deque<std::string> m_backlog;  // .ready names seen, in archive order
    std::vector<std::thread> m_threads;
    int m_live_threads = 0;
    bool m_stopping = false;
};

Status Archiver::apply_settings(const wv_settings& in)
{
    const std::vector<const SettingDef*>& defs = module_settings();
    if (in.count != static_cast<int>(defs.size()))
        return Status::error(Code::invalid,
            "the settings snapshot holds " + std::to_string(in.count) + " values for " + std::to_string(defs.size()) +
                " settings");
    // Everything the archiver's work depends on, in one string: what the shim alone reads (the shutdown
    // budget) is left out, so changing it does not throw away work done ahead.
    std::string key = std::to_string(in.system_identifier) + '\n' + std::to_string(in.wal_segment_size) + '\n';
    auto value_at = [&](size_t i) { return std::string(in.values[i] != nullptr ? in.values[i] : ""); };
    for (size_t i = 0; i < defs.size(); ++i)
        if (defs[i]->used_by(k_use_module))
            key += std::string(defs[i]->name) + '=' + value_at(i) + '\n';
    if (key == m_settings_key && m_context)
        return Status::ok();

    std::map<std::string, std::string> values;
    for (size_t i = 0; i < defs.size(); ++i)
        if (defs[i]->used_by(k_use_module))
            values[defs[i]->name] = value_at(i);
    StorageOptions options;
    for (const SettingDef* def : defs)
        if (def->backend != nullptr && def->used_by(k_use_module))
            options.settings[def->name] = values[def->name];
    auto ctx = std::make_shared<Context>();
    ctx->settings.repo = values["repo"];
    std::string error;
    auto compression = Compression::parse(values["compression"], &error);
    if (!compression)
        return Status::error(Code::invalid, "invalid value for walvault.compression: " + error);
    ctx->settings.compression = *compression;
    int parallel = 0;
    const std::string& p = values["parallel"];
    std::from_chars(p.data(), p.data() + p.size(), parallel);
    ctx->settings.parallel = std::clamp(parallel, 1, k_max_parallel);
    Status rs = parse_age_recipients(values["encryption_recipients"], ctx->settings.recipients);
    if (!rs.is_ok())
        return rs.prefix("invalid value for walvault.encryption_recipients");
    Status s = open_storage(ctx->settings.repo, options, ctx->storage);
    if (!s.is_ok())
        return s;
    ctx->identity.system_identifier = in.system_identifier;
    ctx->identity.pg_major = in.pg_major;
    ctx->identity.wal_segment_size = in.wal_segment_size;
    std::vector<std::string> fingerprints;
    fingerprints.reserve(ctx->settings.recipients.size());
    for (const AgeRecipient& r : ctx->settings.recipients)
        fingerprints.push_back(age_recipient_fingerprint(r));
    set_identity_encryption(ctx->identity, fingerprints);

    // New settings: forget work done or queued under the old ones; keep track of what is running.
    for (auto& [name, job] : m_jobs)
        if (job->running && !job->done)
            m_retired[name] = job;
    m_queue.clear();
    m_jobs.clear();
    m_backlog.clear();
    m_context = std::move(ctx);
    m_settings_key = std::move(key);
    return Status::ok();
}

size_t Archiver::in_flight() const
{
    size_t n = 0;
    for (const auto& [name, job] : m_jobs)
        n += job->done ? 0 : 1;
    return n;
}

// What walvault_status() shows as in_flight_count: files taken on that PostgreSQL has not been told are
// archived yet. Queued or running jobs (retired ones too: they still occupy a worker) and look-ahead jobs
// that succeeded and wait for PostgreSQL to ask; not failed attempts, which are redone when asked for.
uint64_t Archiver::unreported() const
{
    uint64_t n = 0;
    for (const auto& [name, job] : m_jobs)
        n += !job->done || job->status.is_ok() ? 1 : 0;
    for (const auto& [name, job] : m_retired)
        n += job->done ? 0 : 1;
    return n;
}

void Archiver::submit(const std::string& name, const std::string& path, bool requested)
{
    auto job = std::make_shared<Job>();
    job->name = name;
    job->path = path;
    job->context = m_context;
    job->requested = requested;
    m_jobs[name] = job;
    // The file PostgreSQL waits for goes first.
    if (requested)
        m_queue.push_front(job);
    else
        m_queue.push_back(job);
    m_work_cv.notify_one();
}

// Starts work on the next .ready files, up to walvault.parallel in flight. The directory is read again
// only when what we know runs out or PostgreSQL asked for a file we did not expect (a new .history file,
// for example), not once per segment.
void Archiver::look_ahead(const std::string& wal_dir, bool rescan)
{
    const size_t limit = static_cast<size_t>(m_context->settings.parallel);
    if (in_flight() >= limit)
        return;
    if (rescan || m_backlog.empty()) {
        m_backlog.clear();
        const std::string status_dir = wal_dir + "/archive_status";
        DIR* dir = ::opendir(status_dir.c_str());
        if (dir == nullptr)
            return;
        std::vector<std::string> names;
        const size_t suffix = std::strlen(k_ready_suffix);
        while (struct dirent* e = ::readdir(dir)) {
            std::string n = e->d_name;
            if (n.size() > suffix && n.compare(n.size() - suffix, suffix, k_ready_suffix) == 0) {
                n.resize(n.size() - suffix);
                if (parse_wal_name(n))
                    names.push_back(std::move(n));
            }
        }
        ::closedir(dir);
        std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return archive_order_less(a, b); });
        m_backlog.assign(names.begin(), names.end());
    }
    // Bound what we track even if PostgreSQL never claims some results.
    const size_t max_tracked = 4 * limit + 4;
    while (in_flight() < limit && !m_backlog.empty() && m_jobs.size() < max_tracked) {
        const std::string name = m_backlog.front();
        m_backlog.pop_front();
        if (m_jobs.count(name) == 0 && m_retired.count(name) == 0)
            submit(name, wal_dir + "/" + name, false);
    }
}

void Archiver::ensure_workers()
{
    const size_t want = static_cast<size_t>(m_context->settings.parallel);
    if (m_threads.size() >= want)
        return;
    // Memory must not grow with uptime (<= 64 MiB at the largest look-ahead, bench/memory.sh). glibc would give
    // each thread its own arena and, after the first free of a large buffer, stop returning 1 MiB buffers
    // to the system; a fixed mmap threshold returns them at once, two arenas bound fragmentation. Only in
    // the archiver process, once, before the first thread.
    if (m_threads.empty()) {
        mallopt(M_MMAP_THRESHOLD, k_mmap_threshold_bytes);
        mallopt(M_ARENA_MAX, k_malloc_arenas);
    }
    // Threads must never receive the process's signals: PostgreSQL's handlers assume the main thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        while (m_threads.size() < want) {
            m_threads.emplace_back([this] { worker_main(); });
            ++m_live_threads;
        }
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Archiver::worker_main()
{
    Encoder encoder{k_wal_frame_bytes};  // one zstd context per thread, reused for every file
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
        m_work_cv.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
        if (m_stopping)
            break;
        std::shared_ptr<Job> job = m_queue.front();
        m_queue.pop_front();
        job->started = Clock::now();
        job->running = true;
        lock.unlock();

        Status s;
        ArchiveReport report;
        try {
            Context& ctx = *job->context;
            s = ctx.check_identity();
            // With encryption_recipients, objects are age files for them (core/codec/age.h).
            if (s.is_ok())
                s = archive_wal_file(*ctx.storage, encoder, ctx.settings.compression, job->name, job->path, report,
                    ctx.settings.recipients);
        } catch (const std::exception& e) {
            s = Status::error(Code::io_error, std::string("internal error: ") + e.what());
        } catch (...) {
            s = Status::error(Code::io_error, "internal error");
        }

        lock.lock();
        job->status = std::move(s);
        job->report = report;
        job->finished = Clock::now();
        job->done = true;
        m_done_cv.notify_all();
    }
    --m_live_threads;
    m_done_cv.notify_all();
}

wv_status Archiver::archive(
    const wv_settings& settings, const std::string& file, const std::string& path, int wait_ms, wv_file_result& result)
{
    std::unique_lock<std::mutex> lock(m_mutex);
    wv_status status = WV_FAILED;
    try {
        status = archive_locked(lock, settings, file, path, wait_ms, result);
    } catch (...) {
        if (lock.owns_lock())
            result.in_flight_count = unreported();
        throw;
    }
    result.in_flight_count = unreported();
    return status;
}

wv_status Archiver::archive_locked(std::unique_lock<std::mutex>& lock, const wv_settings& settings,
    const std::string& file, const std::string& path, int wait_ms, wv_file_result& result)
{
    auto fail = [&](const Status& s) {
        copy_message(result.message, s.message());
        copy_message(result.hint, s.hint());
        return WV_FAILED;
    };
    if (m_stopping)
        return fail(Status::error(Code::io_error, "archiver is shutting down"));
    Status s = apply_settings(settings);
    if (!s.is_ok())
        return fail(s);
    ensure_workers();

    auto it = m_jobs.find(file);
    if (it == m_jobs.end()) {
        auto retired = m_retired.find(file);
        if (retired != m_retired.end()) {
            std::shared_ptr<Job> old = retired->second;
            m_done_cv.wait_for(lock, std::chrono::milliseconds(std::max(wait_ms, 0)), [&] { return old->done; });
            if (!old->done)
                return WV_PENDING;
            m_retired.erase(file);
            // Archived under the old settings into the store we use now: that is still true. Only the full
            // identity tells (the same s3://bucket/prefix may be another store at another endpoint).
            if (old->status.is_ok() && old->context->storage->identity() == m_context->storage->identity()) {
                old->requested = true;
                it = m_jobs.emplace(file, old).first;
            }
        }
    }
    const bool known = it != m_jobs.end();
    // A look-ahead attempt that failed is retried now rather than reported: the failure may be stale.
    if (known && it->second->done && !it->second->status.is_ok() && !it->second->requested)
        m_jobs.erase(it), it = m_jobs.end();
    if (it == m_jobs.end())
        submit(file, path, true);
    const std::string wal_dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
    look_ahead(wal_dir.empty() ? "." : wal_dir, !known);

    std::shared_ptr<Job> job = m_jobs[file];
    job->requested = true;
    m_done_cv.wait_for(lock, std::chrono::milliseconds(std::max(wait_ms, 0)), [&] { return job->done; });
    if (!job->done)
        return WV_PENDING;
    m_jobs.erase(file);

    // Forget look-ahead results that were never claimed for a long time (the file went away).
    const auto now = Clock::now();
    for (auto* table : {&m_jobs, &m_retired})
        for (auto j = table->begin(); j != table->end();)
            j = j->second->done && now - j->second->finished > k_unclaimed_ttl ? table->erase(j) : std::next(j);

    result.duration_ms = std::chrono::duration<double, std::milli>(job->finished - job->started).count();
    result.bytes_in = job->report.bytes_in;
    result.bytes_out = job->report.bytes_out;
    result.already_archived = job->report.already_archived ? 1 : 0;
    if (!job->status.is_ok()) {
        Status err = job->status;
        err.prefix("could not archive \"" + file + "\" to \"" + job->context->storage->location() + "\"");
        return fail(err);
    }
    return WV_DONE;
}

void Archiver::shutdown(int wait_ms)
{
    std::unique_lock<std::mutex> lock(m_mutex);
    m_stopping = true;
    m_queue.clear();
    m_work_cv.notify_all();
    const bool all_exited = m_done_cv.wait_for(
        lock, std::chrono::milliseconds(std::max(wait_ms, 0)), [this] { return m_live_threads == 0; });
    lock.unlock();
    // Threads stuck in a slow store are left behind: the process is exiting and must not wait for them.
    for (std::thread& t : m_threads) {
        if (all_exited)
            t.join();
        else
            t.detach();
    }
    m_threads.clear();
}

// Never destroyed: worker threads may outlive a shutdown that gave up waiting, and a static destructor
// running under them at exit() would crash the archiver.
Archiver* g_archiver = nullptr;

Archiver& archiver()
{
    if (g_archiver == nullptr)
        g_archiver = new Archiver();
    return *g_archiver;
}

void fill_check(bool ok, const std::string& m, const std::string& h, char* message, char* hint, size_t len)
{
    if (ok || len == 0)
        return;
    std::snprintf(message, len, "%s", m.c_str());
    std::snprintf(hint, len, "%s", h.c_str());
}

}  // namespace
}  // namespace walvault

extern "C" int wv_check_setting(
    const char* name, const char* value, int check_access, char* message, char* hint, size_t len)
{
    try {
        std::string m, h;
        const bool ok = walvault::check_setting(name, value ? value : "", check_access != 0, m, h);
        walvault::fill_check(ok, m, h, message, hint, len);
        return ok ? 1 : 0;
    } catch (...) {
        walvault::fill_check(false, "out of memory", "", message, hint, len);
        return 0;
    }
}

extern "C" int wv_setting_defs(const wv_setting_def** defs, char* message, size_t len)
{
    try {
        // pg_settings.short_desc is a sentence, as PostgreSQL's own are: "Compression of written objects: ...".
        static const std::vector<std::string> k_descriptions = [] {
            std::vector<std::string> out;
            for (const walvault::SettingDef* def : walvault::module_settings()) {
                std::string text = def->help;
                if (!text.empty())
                    text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
                out.push_back(text + ".");
            }
            return out;
        }();
        static const std::vector<wv_setting_def> k_defs = [] {
            std::vector<wv_setting_def> out;
            for (const walvault::SettingDef* def : walvault::module_settings()) {
                wv_setting_def d{};
                d.name = def->name;
                d.help = k_descriptions[out.size()].c_str();
                d.type = def->type == walvault::SettingType::integer ? WV_SETTING_INTEGER : WV_SETTING_TEXT;
                d.default_text = def->default_value;
                d.default_int = static_cast<int>(walvault::setting_default_int(def->name, false));
                d.min_int = static_cast<int>(def->min);
                d.max_int = static_cast<int>(def->max);
                d.unit = def->unit == walvault::SettingUnit::ms ? WV_UNIT_MS
                    : def->unit == walvault::SettingUnit::s     ? WV_UNIT_S
                    : def->unit == walvault::SettingUnit::mb    ? WV_UNIT_MB
                                                                : WV_UNIT_NONE;
                d.superuser_only = def->superuser_only ? 1 : 0;
                d.needs_restart = def->needs_restart ? 1 : 0;
                out.push_back(d);
            }
            return out;
        }();
        if (k_defs.size() > WV_MAX_SETTINGS) {
            std::snprintf(message, len, "%zu settings, more than WV_MAX_SETTINGS (%d)", k_defs.size(), WV_MAX_SETTINGS);
            return -1;
        }
        *defs = k_defs.data();
        return static_cast<int>(k_defs.size());
    } catch (...) {
        std::snprintf(message, len, "out of memory");
        return -1;
    }
}

extern "C" wv_status wv_archive(
    const wv_settings* settings, const char* file, const char* path, int wait_ms, wv_file_result* result)
{
    std::memset(result, 0, sizeof(*result));
    try {
        return walvault::archiver().archive(*settings, file, path, wait_ms, *result);
    } catch (const std::exception& e) {
        std::snprintf(result->message, WV_MESSAGE_LEN, "could not archive \"%s\": internal error: %s", file, e.what());
    } catch (...) {
        std::snprintf(result->message, WV_MESSAGE_LEN, "could not archive \"%s\": internal error", file);
    }
    return WV_FAILED;
}

extern "C" void wv_shutdown(int wait_ms)
{
    try {
        if (walvault::g_archiver != nullptr)
            walvault::g_archiver->shutdown(wait_ms);
    } catch (...) {
        // Nothing to report to: the archiver is exiting.
    }
}
