// The prefetch spool and the prefetcher loop. Every file that can be served appears under its final name
// only by a rename after it was verified, so a kill leaves at most a temporary file, which nobody serves
// and the next prefetcher removes; a crash of the machine changes the boot id, which retires the spool. Two processes
// share the directory: wal-fetch (serves, writes the position) and the prefetcher (downloads, prunes); flock() on
// temporary files tells them apart from leftovers.
#include "core/repo/wal_spool.h"

#include "core/common/file_io.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace walvault {
namespace {

constexpr const char* k_temp_suffix = ".tmp";        // ".<segment>.tmp": a download under way or abandoned
constexpr const char* k_small_file_suffix = ".new";  // "spool.json.new" being written; rewrite_small_file
constexpr size_t k_max_spool_file_bytes = 65536;     // the marker, position and counters are a few lines of JSON
constexpr auto k_take_poll_interval = std::chrono::milliseconds(10);
constexpr int k_lock_attempts = 3;  // open + flock + same-inode check, against a concurrent unlink

using Clock = std::chrono::steady_clock;

std::string temp_name(const std::string& segment)
{
    return "." + segment + k_temp_suffix;
}

// The segment a directory entry is: its final file, or (temp = true) its temporary file.
std::optional<WalName> spool_entry(const std::string& entry, bool& temp)
{
    std::string name = entry;
    temp = false;
    const std::string suffix = k_temp_suffix;
    if (name.size() > suffix.size() + 1 && name.front() == '.' &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        name = name.substr(1, name.size() - 1 - suffix.size());
        temp = true;
    }
    std::optional<WalName> w = parse_wal_name(name);
    if (!w || w->kind != WalKind::segment)
        return std::nullopt;
    return w;
}

Status list_dir(const std::string& dir, std::vector<std::string>& out)
{
    out.clear();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open directory \"" + dir + "\": " + errno_text(errno));
    while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..")
            out.push_back(name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return Status::ok();
}

// Reads one of the spool's own files: nothing there is Code::not_found, a file that is not what the spool
// writes (not a regular file, too large) is Code::corrupt.
Status read_spool_file(const std::string& path, std::string& out)
{
    bool present = false;
    Status s = read_small_file(path, k_max_spool_file_bytes, present, out);
    if (s.code() == Code::invalid)
        return Status::error(Code::corrupt, s.message());
    if (s.is_ok() && !present)
        return Status::error(Code::not_found, "could not open file \"" + path + "\": " + errno_text(ENOENT));
    return s;
}

// Replaces path atomically, for the files wal-fetch rewrites on every call (position, counters), which
// need no durability: writes "path.new" in place and swaps the two names with renameat2(RENAME_EXCHANGE),
// so the two inodes take turns and "path.new" keeps the previous text. Unlike write_small_file (file_io.h), nothing
// is created, truncated or freed, and ext4 starts no write-out (a rename over an existing file makes it
// flush the new file's data, auto_da_alloc); beside the prefetcher's fsyncs that made each call wait
// ~6 ms for the two files (docs/benchmarks.md, "wal-fetch swaps its small files with renameat2"). A reader
// that still holds the old inode open when the next call (another process, milliseconds later) rewrites it
// could read a mix. What does not parse is ignored (the prefetcher keeps its position; the counters start
// again from zero); a mixed but valid position could make the prefetcher prune too early, which costs
// direct fetches, never a wrong file: the spool only serves verified files of the right name. Where the
// exchange is not supported, a plain rename.
Status rewrite_small_file(const std::string& path, const std::string& text)
{
    const std::string other = path + k_small_file_suffix;
    const int fd = ::open(other.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return Status::error(Code::io_error, "could not open file \"" + other + "\": " + errno_text(errno));
    Status s = Status::ok();
    const ssize_t n = ::pwrite(fd, text.data(), text.size(), 0);
    if (n != static_cast<ssize_t>(text.size()))
        s = Status::error(Code::io_error,
            "could not write file \"" + other + "\": " + (n < 0 ? errno_text(errno) : std::string("short write")));
    struct stat st;
    if (s.is_ok() && (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != text.size()) &&
        ::ftruncate(fd, static_cast<off_t>(text.size())) != 0)
        s = Status::error(Code::io_error, "could not truncate file \"" + other + "\": " + errno_text(errno));
    ::close(fd);
    if (!s.is_ok()) {
        ::unlink(other.c_str());
        return s;
    }
    if (::renameat2(AT_FDCWD, other.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) == 0)
        return Status::ok();
    if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
        return Status::error(
            Code::io_error, "could not exchange \"" + other + "\" and \"" + path + "\": " + errno_text(errno));
    if (::rename(other.c_str(), path.c_str()) != 0)  // the first time (no path yet), or no exchange here
        return Status::error(
            Code::io_error, "could not rename \"" + other + "\" to \"" + path + "\": " + errno_text(errno));
    return Status::ok();
}

// Parses a JSON object, turning every parse or type error into Code::corrupt naming the file.
template <typename Fill> Status parse_json_file(const std::string& path, const std::string& text, Fill fill)
{
    try {
        const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            return Status::error(Code::corrupt, "file \"" + path + "\" is not a JSON object");
        fill(j);
        return Status::ok();
    } catch (const std::exception& e) {
        return Status::error(Code::corrupt, "file \"" + path + "\" is not valid: " + e.what());
    }
}

uint64_t parse_u64(const std::string& text)
{
    size_t used = 0;
    const uint64_t v = std::stoull(text, &used);
    if (used != text.size())
        throw std::invalid_argument("\"" + text + "\" is not a number");
    return v;
}

// Opens (creating) path and takes an exclusive flock() without waiting, making sure the locked inode is
// still the one at path (another process may unlink a file it found unlocked). -1 with Code::busy if
// someone holds it.
Status open_locked(const std::string& path, int& fd)
{
    fd = -1;
    for (int attempt = 0; attempt < k_lock_attempts; ++attempt) {
        const int f = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (f < 0)
            return Status::error(Code::io_error, "could not create file \"" + path + "\": " + errno_text(errno));
        if (::flock(f, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            ::close(f);
            if (err == EWOULDBLOCK)
                return Status::error(Code::busy, "file \"" + path + "\" is locked by another process");
            return Status::error(Code::io_error, "could not lock file \"" + path + "\": " + errno_text(err));
        }
        struct stat a, b;
        if (::fstat(f, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            fd = f;
            return Status::ok();
        }
        ::close(f);
    }
    return Status::error(Code::busy, "file \"" + path + "\" keeps being replaced");
}

// True if someone holds a lock on path (a live download); false if it is absent or a leftover.
bool locked_by_someone(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);
    return held;
}

// Removes path if no one holds a lock on it (unlinks while holding it, so a writer cannot be in between).
bool remove_if_unlocked(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool removed = false;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
        removed = ::unlink(path.c_str()) == 0;
    ::close(fd);
    return removed;
}

int64_t file_size(const std::string& path)
{
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

}  // namespace

std::string current_boot_id()
{
    static const std::string id = [] {
        std::string text;
        if (!read_spool_file("/proc/sys/kernel/random/boot_id", text).is_ok())
            return std::string();
        while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
            text.pop_back();
        return text;
    }();
    return id;
}

// ---- the spool directory --------------------------------------------------------------------------------

Status WalSpool::read_marker(SpoolMarker& out) const
{
    const std::string file = path(k_spool_marker_file);
    std::string text;
    Status s = read_spool_file(file, text);
    if (!s.is_ok())
        return s;
    SpoolMarker m;
    s = parse_json_file(file, text, [&](const nlohmann::json& j) {
        m.repository = j.at("repository").get<std::string>();
        m.system_identifier = parse_u64(j.at("system_identifier").get<std::string>());
        m.wal_segment_size = j.at("wal_segment_size").get<uint64_t>();
        m.boot_id = j.value("boot_id", "");  // absent before boot ids were recorded: never this boot
    });
    if (s.is_ok() && !valid_wal_segment_size(m.wal_segment_size))
        s = Status::error(Code::corrupt,
            "file \"" + file + "\" names an invalid WAL segment size " + std::to_string(m.wal_segment_size));
    if (s.is_ok())
        out = m;
    return s;
}

Status WalSpool::adopt(const SpoolMarker& marker, bool* wiped)
{
    if (wiped != nullptr)
        *wiped = false;
    if (!valid_wal_segment_size(marker.wal_segment_size))
        return Status::error(Code::invalid, "invalid WAL segment size " + std::to_string(marker.wal_segment_size));
    if (::mkdir(m_dir.c_str(), 0700) != 0 && errno != EEXIST)
        return Status::error(Code::io_error, "could not create directory \"" + m_dir + "\": " + errno_text(errno));
    SpoolMarker current;
    if (read_marker(current).is_ok() && current.same_source(marker) &&
        current.wal_segment_size == marker.wal_segment_size && current.boot_id == m_boot_id)
        return Status::ok();
    size_t removed = 0;
    Status s = clear(&removed);
    if (s.is_ok() && removed > 0)
        s = fsync_directory(m_dir);  // the old files are gone for good before the new marker vouches for the rest
    if (!s.is_ok())
        return s;
    if (wiped != nullptr)
        *wiped = removed > 0;
    nlohmann::ordered_json j;
    j["repository"] = marker.repository;
    j["system_identifier"] = std::to_string(marker.system_identifier);
    j["wal_segment_size"] = marker.wal_segment_size;
    j["boot_id"] = m_boot_id;
    return write_small_file(path(k_spool_marker_file), j.dump() + "\n", k_small_file_suffix);
}

Status WalSpool::take(
    const WalName& name, const SpoolMarker& expected, const std::string& dest, std::chrono::milliseconds stall_timeout)
{
    if (name.kind != WalKind::segment)
        return Status::error(Code::not_found, "only segments are spooled");
    const std::string file = path(name.text);
    const std::string temp = path(temp_name(name.text));
    SpoolMarker marker;
    int64_t last_size = -1;
    auto last_growth = Clock::now();
    for (;;) {
        struct stat st;
        if (::lstat(file.c_str(), &st) == 0) {
            // Whose files these are is checked only when there is one to serve: a miss costs one stat().
            Status s = read_marker(marker);
            if (!s.is_ok() || !marker.same_source(expected))
                return Status::error(
                    Code::not_found, "the spool \"" + m_dir + "\" holds WAL of another repository or database system");
            if (marker.boot_id != m_boot_id)
                return Status::error(
                    Code::not_found, "the spool \"" + m_dir + "\" was filled before the machine last started");
            if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != marker.wal_segment_size) {
                const std::string what = S_ISREG(st.st_mode)
                    ? "is " + std::to_string(st.st_size) + " bytes, not " + std::to_string(marker.wal_segment_size)
                    : "is not a regular file";
                ::unlink(file.c_str());
                return Status::error(Code::corrupt, "prefetched file \"" + file + "\" " + what);
            }
            if (::rename(file.c_str(), dest.c_str()) != 0)
                return Status::error(
                    Code::io_error, "could not rename \"" + file + "\" to \"" + dest + "\": " + errno_text(errno));
            return Status::ok();
        }
        // Not there: worth waiting only for a download under way that keeps growing. A download that ended
        // between the two looks (renamed to its final name, then unlocked) is served on the next turn.
        if (!locked_by_someone(temp)) {
            if (::lstat(file.c_str(), &st) == 0)
                continue;
            return Status::error(Code::not_found, "\"" + name.text + "\" is not in the spool");
        }
        const int64_t size = file_size(temp);
        const auto now = Clock::now();
        if (size != last_size) {
            last_size = size;
            last_growth = now;
        } else if (now - last_growth >= stall_timeout) {
            return Status::error(Code::not_found, "the download of \"" + name.text + "\" into the spool stalled");
        }
        std::this_thread::sleep_for(k_take_poll_interval);
    }
}

Status WalSpool::fetch(
    Storage& storage, const WalName& name, uint64_t segment_size, const std::function<bool()>& cancelled)
{
    const std::string file = path(name.text);
    const std::string temp = path(temp_name(name.text));
    if (cancelled && cancelled())
        return Status::error(Code::busy, "download of \"" + name.text + "\" cancelled");
    int fd = -1;
    Status s = open_locked(temp, fd);
    if (!s.is_ok())
        return s;
    if (::ftruncate(fd, 0) != 0)
        s = Status::error(Code::io_error, "could not truncate file \"" + temp + "\": " + errno_text(errno));
    ObjectMeta meta;
    uint64_t written = 0;
    if (s.is_ok())
        s = decode_object_fast(
            storage, wal_object_key(name),
            [&](const uint8_t* d, size_t n) {
                if (cancelled && cancelled())
                    return Status::error(Code::busy, "download of \"" + name.text + "\" cancelled");
                written += n;
                if (written > segment_size)  // not a segment of this size: stop before it fills the disk
                    return Status::error(Code::corrupt,
                        "object of \"" + name.text + "\" holds more than " + std::to_string(segment_size) + " bytes");
                return write_all(fd, d, n, temp);
            },
            [&] {
                written = 0;
                return rewind_file(fd, temp);
            },
            meta);
    if (s.is_ok() && meta.name != name.text)
        s = Status::error(Code::corrupt,
            "object \"" + storage.location(wal_object_key(name)) + "\" holds \"" + meta.name + "\", not \"" +
                name.text + "\"");
    if (s.is_ok() && meta.length != segment_size)
        s = Status::error(Code::corrupt,
            "object \"" + storage.location(wal_object_key(name)) + "\" holds " + std::to_string(meta.length) +
                " bytes, not a segment of " + std::to_string(segment_size));
    // fsync, ahead of recovery: PostgreSQL fsyncs every segment restore_command hands it (durable_rename
    // from RECOVERYXLOG into pg_wal) while recovery waits, and that fsync is cheap only if the data is
    // already on disk (see the class comment).
    if (s.is_ok() && ::fsync(fd) != 0)
        s = Status::error(Code::io_error, "could not fsync file \"" + temp + "\": " + errno_text(errno));
    // Renamed while still locked: nobody can take the temporary file for a leftover in between.
    if (s.is_ok() && ::rename(temp.c_str(), file.c_str()) != 0)
        s = Status::error(
            Code::io_error, "could not rename \"" + temp + "\" to \"" + file + "\": " + errno_text(errno));
    if (!s.is_ok())
        ::unlink(temp.c_str());
    ::close(fd);
    return s;
}

bool WalSpool::has(const std::string& name) const
{
    struct stat st;
    return ::stat(path(name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status WalSpool::remove_wal_files(const std::function<bool(const WalName&)>& which, size_t* removed)
{
    std::vector<std::string> entries;
    Status s = list_dir(m_dir, entries);
    if (s.code() == Code::not_found)
        return Status::ok();
    if (!s.is_ok())
        return s;
    size_t count = 0;
    for (const std::string& entry : entries) {
        bool temp = false;
        const std::optional<WalName> w = spool_entry(entry, temp);
        if (!w)
            continue;
        if (temp) {
            count += remove_if_unlocked(path(entry)) ? 1 : 0;
        } else if (which(*w)) {
            if (::unlink(path(entry).c_str()) == 0)
                ++count;
            else if (errno != ENOENT)
                s = Status::error(Code::io_error, "could not remove \"" + path(entry) + "\": " + errno_text(errno));
        }
    }
    if (removed != nullptr)
        *removed = count;
    return s;
}

Status WalSpool::prune(const WalName& position, uint64_t segment_size)
{
    const uint64_t at = segment_number(position, segment_size);
    return remove_wal_files(
        [&](const WalName& w) { return w.timeline != position.timeline || segment_number(w, segment_size) <= at; });
}

Status WalSpool::clear(size_t* removed)
{
    return remove_wal_files([](const WalName&) { return true; }, removed);
}

Status WalSpool::write_position(const SpoolPosition& position)
{
    nlohmann::ordered_json j;
    j["segment"] = position.segment;
    j["repository"] = position.repository;
    j["system_identifier"] = std::to_string(position.system_identifier);
    return rewrite_small_file(path(k_spool_position_file), j.dump() + "\n");
}

Status WalSpool::read_position(SpoolPosition& out) const
{
    const std::string file = path(k_spool_position_file);
    std::string text;
    Status s = read_spool_file(file, text);
    if (!s.is_ok())
        return s;
    SpoolPosition p;
    s = parse_json_file(file, text, [&](const nlohmann::json& j) {
        p.segment = j.at("segment").get<std::string>();
        p.repository = j.at("repository").get<std::string>();
        p.system_identifier = parse_u64(j.at("system_identifier").get<std::string>());
    });
    if (s.is_ok())
        out = p;
    return s;
}

Status WalSpool::read_stats(SpoolStats& out) const
{
    out = SpoolStats{};
    const std::string file = path(k_spool_stats_file);
    std::string text;
    Status s = read_spool_file(file, text);
    if (s.code() == Code::not_found)
        return Status::ok();
    if (!s.is_ok())
        return s;
    SpoolStats st;
    s = parse_json_file(file, text, [&](const nlohmann::json& j) {
        st.served = j.value("served", uint64_t{0});
        st.direct = j.value("direct", uint64_t{0});
        st.refused = j.value("refused", uint64_t{0});
    });
    if (s.is_ok())
        out = st;
    return s;
}

Status WalSpool::add_stats(const SpoolStats& delta)
{
    SpoolStats st;
    (void)read_stats(st);  // a damaged stats file starts again from zero
    nlohmann::ordered_json j;
    j["served"] = st.served + delta.served;
    j["direct"] = st.direct + delta.direct;
    j["refused"] = st.refused + delta.refused;
    return rewrite_small_file(path(k_spool_stats_file), j.dump() + "\n");
}

// ---- the prefetcher -------------------------------------------------------------------------------------

namespace {

// Worker threads downloading segments into the spool, nearest first (submission order).
class DownloadPool {
public:
    struct Finished {
        WalName name;
        Status status;
        std::shared_ptr<std::atomic<bool>> cancel;  // the job's flag: which submission this was
    };

    DownloadPool(WalSpool& spool, Storage& storage, uint64_t segment_size, int threads)
        : m_spool(spool)
        , m_storage(storage)
        , m_segment_size(segment_size)
    {
        for (int i = 0; i < std::max(threads, 1); ++i)
            m_threads.emplace_back([this] { work(); });
    }
    ~DownloadPool() { stop(); }
    DownloadPool(const DownloadPool&) = delete;
    DownloadPool& operator=(const DownloadPool&) = delete;

    void submit(const WalName& name)
    {
        std::lock_guard lock(m_mutex);
        auto cancel = std::make_shared<std::atomic<bool>>(false);
        m_active[name.text] = cancel;
        m_queue.push_back(Job{name, cancel});
        m_work.notify_one();
    }

    bool active(const std::string& name)
    {
        std::lock_guard lock(m_mutex);
        return m_active.count(name) > 0;
    }

    size_t active_count()
    {
        std::lock_guard lock(m_mutex);
        return m_active.size();
    }

    // Drops queued jobs and cancels running ones whose segment matches.
    void cancel_if(const std::function<bool(const WalName&)>& which)
    {
        std::lock_guard lock(m_mutex);
        for (auto it = m_queue.begin(); it != m_queue.end();) {
            if (which(it->name)) {
                m_active.erase(it->name.text);
                it = m_queue.erase(it);
            } else {
                ++it;
            }
        }
        for (auto& [name, cancel] : m_active)
            if (const auto w = parse_wal_name(name); w && which(*w))
                cancel->store(true);
    }

    // Waits up to timeout for a download to finish; returns those finished since the last call. A segment
    // stays active() until it is handed out here, so the caller never submits again what it has not yet
    // seen finish.
    std::vector<Finished> wait(std::chrono::milliseconds timeout)
    {
        std::unique_lock lock(m_mutex);
        m_finished_cv.wait_for(lock, timeout, [this] { return !m_finished.empty(); });
        std::vector<Finished> out;
        out.swap(m_finished);
        for (const Finished& f : out)
            // A job cancelled and submitted again under the same name has a new flag: leave that one.
            if (auto it = m_active.find(f.name.text); it != m_active.end() && it->second == f.cancel)
                m_active.erase(it);
        return out;
    }

    void stop()
    {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
            m_queue.clear();
            for (auto& [name, cancel] : m_active)
                cancel->store(true);
            m_work.notify_all();
        }
        for (std::thread& t : m_threads)
            t.join();
        m_threads.clear();
    }

private:
    struct Job {
        WalName name;
        std::shared_ptr<std::atomic<bool>> cancel;
    };

    void work()
    {
        for (;;) {
            Job job;
            {
                std::unique_lock lock(m_mutex);
                m_work.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
                if (m_stopping)
                    return;
                job = m_queue.front();
                m_queue.pop_front();
            }
            Status s;
            try {
                s = m_spool.fetch(m_storage, job.name, m_segment_size, [&] { return job.cancel->load(); });
            } catch (const std::exception& e) {
                s = Status::error(Code::io_error, std::string("download failed: ") + e.what());
            }
            std::lock_guard lock(m_mutex);
            m_finished.push_back(
                Finished{job.name, job.cancel->load() ? Status::error(Code::busy, "cancelled") : s, job.cancel});
            m_finished_cv.notify_one();
        }
    }

    WalSpool& m_spool;
    Storage& m_storage;
    const uint64_t m_segment_size;
    std::mutex m_mutex;
    std::condition_variable m_work;
    std::condition_variable m_finished_cv;
    std::deque<Job> m_queue;
    // Queued, running, or finished and not yet handed out by wait().
    std::map<std::string, std::shared_ptr<std::atomic<bool>>> m_active;
    std::vector<Finished> m_finished;
    bool m_stopping = false;
    std::vector<std::thread> m_threads;
};

// The first segment found missing ahead of the position, and how often it was asked for.
struct Missing {
    WalName name;
    int attempts = 0;
    Clock::time_point next_try;
};

}  // namespace

Status run_prefetcher(WalSpool& spool, Storage& storage, const SpoolMarker& marker, const PrefetchOptions& options,
    PrefetchResult& result)
{
    result = PrefetchResult{};
    const uint64_t segsize = marker.wal_segment_size;
    if (!valid_wal_segment_size(segsize))
        return Status::error(Code::invalid, "invalid WAL segment size " + std::to_string(segsize));
    const auto segno = [&](const WalName& w) { return segment_number(w, segsize); };

    DownloadPool pool(spool, storage, segsize, options.parallel);
    std::set<std::string> done;    // spooled in this run (or found spooled): never downloaded again
    std::set<std::string> failed;  // failed other than "not found": left to wal-fetch, which reports it
    std::optional<WalName> position;
    std::optional<Missing> missing;
    std::vector<DownloadPool::Finished> finished;
    auto last_move = Clock::now();

    for (;;) {
        if (options.keep_going && !options.keep_going()) {
            result.end = PrefetchEnd::stopped;
            break;
        }
        SpoolPosition p;
        if (spool.read_position(p).is_ok()) {
            if (p.repository != marker.repository || p.system_identifier != marker.system_identifier) {
                result.end = PrefetchEnd::other_source;
                break;
            }
            const std::optional<WalName> w = parse_wal_name(p.segment);
            if (w && w->kind == WalKind::segment && (!position || position->text != w->text)) {
                position = w;
                last_move = Clock::now();
                // What recovery is past, or another timeline, is of no more use.
                const auto behind = [&](const WalName& n) {
                    return n.timeline != w->timeline || segno(n) <= segno(*w);
                };
                pool.cancel_if(behind);
                (void)spool.prune(*w, segsize);  // a file it could not remove is tried again at the next prune
                for (std::set<std::string>* set : {&done, &failed})
                    for (auto it = set->begin(); it != set->end();) {
                        const auto n = parse_wal_name(*it);
                        it = (!n || behind(*n)) ? set->erase(it) : std::next(it);
                    }
                if (missing && behind(missing->name))
                    missing.reset();
            }
        }
        if (!position) {
            result.end = PrefetchEnd::stopped;  // nothing to follow
            break;
        }

        const auto now = Clock::now();
        for (DownloadPool::Finished& f : pool.wait(std::chrono::milliseconds(0)))
            finished.push_back(std::move(f));
        for (const DownloadPool::Finished& f : finished) {
            const bool behind = f.name.timeline != position->timeline || segno(f.name) <= segno(*position);
            if (f.status.is_ok()) {
                ++result.fetched;
                if (behind)  // finished after recovery went past it; if not removed now, at the next prune
                    (void)spool.prune(*position, segsize);
                else
                    done.insert(f.name.text);
                if (missing && missing->name.text == f.name.text)
                    missing.reset();
            } else if (behind) {
                continue;
            } else if (f.status.code() == Code::not_found) {
                if (missing && missing->name.text == f.name.text) {
                    ++missing->attempts;
                    missing->next_try = now + options.end_of_archive_retry;
                } else if (!missing ||
                    (f.name.timeline == missing->name.timeline && segno(f.name) < segno(missing->name))) {
                    missing = Missing{f.name, 1, now + options.end_of_archive_retry};
                }
            } else if (f.status.code() != Code::busy) {
                failed.insert(f.name.text);
                ++result.failed;
                result.last_error = f.status.message();
            }
        }
        finished.clear();
        if (missing && missing->attempts >= options.end_of_archive_attempts && pool.active_count() == 0) {
            result.end = PrefetchEnd::end_of_archive;
            break;
        }
        if (now - last_move >= options.idle_timeout && pool.active_count() == 0) {
            result.end = PrefetchEnd::idle;
            break;
        }

        // The window: the next `window` segments of the position's timeline, up to the first missing one.
        WalName next = *position;
        for (int i = 0; i < options.window; ++i) {
            const std::optional<WalName> n = parse_wal_name(next_segment_name(next, segsize));
            if (!n)
                break;
            next = *n;
            if (missing && missing->name.timeline == next.timeline && segno(next) >= segno(missing->name)) {
                if (segno(next) == segno(missing->name) && missing->attempts < options.end_of_archive_attempts &&
                    now >= missing->next_try && !pool.active(next.text))
                    pool.submit(next);
                break;
            }
            if (done.count(next.text) > 0 || failed.count(next.text) > 0 || pool.active(next.text))
                continue;
            if (spool.has(next.text)) {  // spooled by an earlier prefetcher of the same source
                done.insert(next.text);
                continue;
            }
            pool.submit(next);
        }
        finished = pool.wait(options.poll_interval);  // handled at the top of the next round
    }
    pool.stop();
    // What is left behind only takes disk space until a later prune (or adopt() of a new source) removes it.
    if (position)
        (void)spool.prune(*position, segsize);
    return Status::ok();
}

}  // namespace walvault
