// Posix backend. Durability follows the usual recipe (write temp, fsync, link, fsync directory); link()
// instead of rename() gives create-only semantics, so an archived object is never replaced. The temp
// file is locked with flock() so two writers of one key (a primary and a standby archiving the same
// segment) cannot interleave; a lock dies with its process, so a crashed writer leaves no stale lock.
#include "core/storage/posix/posix_storage.h"

#include "core/codec/xxh3.h"
#include "core/common/direct_io.h"
#include "core/common/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>

namespace walvault {
namespace {

// Two writers of one key at once: most often a primary and its standby (archive_mode = always) archiving
// the same segment into a shared repository. The later one retries and then finds the object written.
constexpr const char* k_busy_hint =
    "Another cluster of the same database system, such as a standby with archive_mode = always, may be "
    "archiving the same file at the same time. That is harmless when the content is identical: the next "
    "attempt finds the identical object and succeeds.";

Status io_error(const std::string& what, const std::string& path, int err)
{
    return Status::error(err == ENOENT ? Code::not_found : Code::io_error,
        "could not " + what + " \"" + path + "\": " + errno_text(err));
}

// Keys are relative, '/'-separated, without empty, "." or ".." components, and no component starts with
// '.', which is reserved for temporary files.
bool valid_key(const std::string& key)
{
    if (key.empty() || key.front() == '/' || key.back() == '/')
        return false;
    size_t start = 0;
    while (start <= key.size()) {
        size_t end = key.find('/', start);
        if (end == std::string::npos)
            end = key.size();
        if (end == start || key[start] == '.')
            return false;
        start = end + 1;
    }
    return true;
}

// A list prefix is a key cut anywhere: the same rules, except that it may be empty or end in '/' or in a
// partial component.
bool valid_prefix(const std::string& prefix)
{
    if (prefix.empty())
        return true;
    if (prefix.front() == '/')
        return false;
    size_t start = 0;
    for (;;) {
        size_t end = prefix.find('/', start);
        if (end == std::string::npos)
            return start == prefix.size() || prefix[start] != '.';
        if (end == start || prefix[start] == '.')
            return false;
        start = end + 1;
    }
}

Status invalid_key(const std::string& key)
{
    return Status::error(Code::invalid, "invalid object key \"" + key + "\"");
}

std::string dir_of(const std::string& path)
{
    return path.substr(0, path.rfind('/'));
}
std::string base_of(const std::string& path)
{
    return path.substr(path.rfind('/') + 1);
}
std::string temp_path_for(const std::string& path)
{
    return dir_of(path) + "/." + base_of(path) + k_posix_temp_suffix;
}

// Reads [offset, offset+len) of fd, stopping early at end of file.
Status read_at(int fd, uint64_t offset, size_t len, std::vector<uint8_t>& out, const std::string& path)
{
    out.resize(len);
    size_t done = 0;
    while (done < len) {
        ssize_t n = ::pread(fd, out.data() + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return io_error("read file", path, errno);
        }
        if (n == 0)
            break;
        done += static_cast<size_t>(n);
    }
    out.resize(done);
    return Status::ok();
}

// Streams fd from offset 0 to sink in chunks.
Status stream_fd(int fd, const std::string& path, const ByteSink& sink)
{
    std::vector<uint8_t> buf(k_posix_io_chunk);
    uint64_t offset = 0;
    for (;;) {
        Status s = read_at(fd, offset, buf.size(), buf, path);
        if (!s.is_ok())
            return s;
        if (buf.empty())
            return Status::ok();
        offset += buf.size();
        s = sink(buf.data(), buf.size());
        if (!s.is_ok())
            return s;
        buf.resize(k_posix_io_chunk);
    }
}

// The check of the read-back (Xxh3Hash): XXH3-128 of the bytes handed to the file system against the same of
// the bytes it gives back. It guards against a file that does not hold what was written (short writes, a
// device or file system error), not against an adversary; the object's own checksums of its content are in
// its trailer and checked by every reader. SHA-256 here cost two more passes over every stored byte (~20 ms
// of CPU per incompressible 16 MiB segment); XXH3 runs at memory speed.
//
// Writes the object to its temp file. With direct I/O (the default where the file system accepts
// O_DIRECT) the bytes are staged in an aligned buffer and written past the page cache: an archive copy is
// not read again soon, so it should not evict the database's pages, and copying every stored byte into new
// page-cache pages was the largest single cost of archiving (see docs/benchmarks.md). The tail that is not
// a whole block is written through the page cache. The read-back after fsync then comes from the device.
// If the file system refuses a direct transfer (EINVAL), the writer carries on with ordinary I/O.
class PosixWriter final : public Writer {
public:
    // replace: commit() renames over the object (Storage::replace) instead of linking create-only.
    PosixWriter(std::string final_path, std::string temp_path, int fd, bool direct, bool replace)
        : m_final(std::move(final_path))
        , m_temp(std::move(temp_path))
        , m_fd(fd)
        , m_stream(fd, 0, direct, k_posix_direct_chunk)
        , m_replace(replace)
    {
    }
    ~PosixWriter() override { abort(); }

    Status write(const uint8_t* data, size_t len) override
    {
        if (m_fd.get() < 0)
            return Status::error(Code::invalid, "write to \"" + m_final + "\" after commit or abort");
        m_hash.update(data, len);
        m_length += len;
        const int err = m_stream.write(data, len);
        return err == 0 ? Status::ok() : io_error("write file", m_temp, err);
    }

    Status commit() override
    {
        if (m_fd.get() < 0)
            return Status::error(Code::invalid, "commit of \"" + m_final + "\" after commit or abort");
        if (const int err = m_stream.flush(); err != 0)
            return io_error("write file", m_temp, err);
        if (::fsync(m_fd.get()) != 0)
            return io_error("fsync file", m_temp, errno);
        // Verify what the file system gives back after fsync: length and checksum of the stored bytes.
        const std::string written = m_hash.finish_hex();
        Xxh3Hash check;
        uint64_t stored = 0;
        Status s = read_back([&](const uint8_t* d, size_t n) {
            check.update(d, n);
            stored += n;
            return Status::ok();
        });
        if (!s.is_ok())
            return s;
        const std::string reread = check.finish_hex();
        if (stored != m_length || reread != written)
            return Status::error(Code::corrupt,
                "file \"" + m_temp + "\" does not hold what was written: " + std::to_string(stored) +
                    " bytes with XXH3-128 " + reread + ", expected " + std::to_string(m_length) +
                    " bytes with XXH3-128 " + written);
        if (m_replace) {
            if (::rename(m_temp.c_str(), m_final.c_str()) != 0)
                return io_error("rename file", m_final, errno);
            m_fd.reset();
            return fsync_directory(dir_of(m_final));
        }
        // Create-only publication: link() fails with EEXIST instead of replacing.
        if (::link(m_temp.c_str(), m_final.c_str()) != 0) {
            int err = errno;
            if (err == EEXIST)
                return Status::error(Code::already_exists, "object \"" + m_final + "\" already exists");
            return io_error("link file", m_final, err);
        }
        if (::unlink(m_temp.c_str()) != 0)
            return io_error("remove file", m_temp, errno);
        m_fd.reset();  // releases the lock
        return fsync_directory(dir_of(m_final));
    }

    void abort() override
    {
        if (m_fd.get() >= 0) {
            // Still holding the lock: the temp file is ours to remove.
            ::unlink(m_temp.c_str());
            m_fd.reset();
        }
    }

private:
    // Streams the temp file from offset 0, directly from the device when the file system allows.
    Status read_back(const ByteSink& sink)
    {
        AlignedBuffer own;
        uint8_t* buf = m_stream.buffer();
        if (buf == nullptr) {
            own = make_aligned_buffer(k_posix_direct_chunk);
            buf = own.get();
            if (buf == nullptr)
                return Status::error(Code::io_error, "out of memory reading back \"" + m_temp + "\"");
        }
        bool direct = m_opened_direct && set_direct(m_fd.get(), true);
        uint64_t offset = 0;
        for (;;) {
            ssize_t n = ::pread(m_fd.get(), buf, k_posix_direct_chunk, static_cast<off_t>(offset));
            if (n < 0 && errno == EINVAL && direct) {
                direct = false;
                set_direct(m_fd.get(), false);
                continue;
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return io_error("read file", m_temp, errno);
            }
            if (n == 0)
                return Status::ok();
            offset += static_cast<uint64_t>(n);
            Status s = sink(buf, static_cast<size_t>(n));
            if (!s.is_ok())
                return s;
        }
    }

    std::string m_final;
    std::string m_temp;
    Fd m_fd;
    DirectStream m_stream;
    bool m_replace;
    bool m_opened_direct = m_stream.direct();  // the read-back may go past the page cache too
    Xxh3Hash m_hash;
    uint64_t m_length = 0;
};

}  // namespace

PosixStorage::PosixStorage(std::string root, bool direct_io)
    : m_root(std::move(root))
    , m_direct_io(direct_io)
{
    while (m_root.size() > 1 && m_root.back() == '/')
        m_root.pop_back();
}

std::string PosixStorage::location(const std::string& key) const
{
    return m_root + "/" + key;
}

std::string PosixStorage::identity() const
{
    // Resolve the longest prefix of the root that exists; what follows it is not there yet, so no link in it.
    std::string existing = m_root;
    std::string rest;
    for (;;) {
        char* real = ::realpath(existing.c_str(), nullptr);
        if (real != nullptr) {
            std::string resolved(real);
            std::free(real);
            if (resolved == "/" && !rest.empty())
                resolved.clear();
            return "file://" + resolved + rest;
        }
        const size_t slash = existing.rfind('/');
        if (slash == std::string::npos || existing == "/")
            return "file://" + m_root;  // nothing resolvable (the root is always absolute, so unreachable)
        rest = existing.substr(slash) + rest;
        existing = slash == 0 ? "/" : existing.substr(0, slash);
    }
}

Status PosixStorage::head(const std::string& key, ObjectInfo& out)
{
    if (!valid_key(key))
        return invalid_key(key);
    struct stat st;
    const std::string path = location(key);
    if (::stat(path.c_str(), &st) != 0)
        return io_error("stat file", path, errno);
    if (!S_ISREG(st.st_mode))
        return Status::error(Code::not_found, "\"" + path + "\" is not an object");
    out.key = key;
    out.size = static_cast<uint64_t>(st.st_size);
    out.modified = static_cast<int64_t>(st.st_mtime);
    return Status::ok();
}

Status PosixStorage::create(const std::string& key, std::unique_ptr<Writer>& out)
{
    return open_writer(key, false, out);
}

Status PosixStorage::replace(const std::string& key, std::unique_ptr<Writer>& out)
{
    return open_writer(key, true, out);
}

Status PosixStorage::open_writer(const std::string& key, bool replace, std::unique_ptr<Writer>& out)
{
    if (!valid_key(key))
        return invalid_key(key);
    const std::string final_path = location(key);
    const std::string dir = dir_of(final_path);
    Status s = make_directories(dir);
    if (!s.is_ok())
        return s;
    const std::string temp_path = temp_path_for(final_path);
    // Open (or reuse) the temp file, lock it, and make sure the locked inode is still the one at temp_path:
    // a writer that just finished may have unlinked it between our open() and flock().
    for (int attempt = 0; attempt < 3; ++attempt) {
        Fd fd(::open(temp_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, k_posix_file_mode));
        if (fd.get() < 0)
            return io_error("create file", temp_path, errno);
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                return Status::error(
                    Code::busy, "another process is writing \"" + final_path + "\" at the same time", k_busy_hint);
            return io_error("lock file", temp_path, errno);
        }
        struct stat by_fd, by_path;
        if (::fstat(fd.get(), &by_fd) != 0)
            return io_error("stat file", temp_path, errno);
        if (::stat(temp_path.c_str(), &by_path) != 0 || by_fd.st_ino != by_path.st_ino ||
            by_fd.st_dev != by_path.st_dev)
            continue;
        if (::ftruncate(fd.get(), 0) != 0)
            return io_error("truncate file", temp_path, errno);
        // O_DIRECT where the file system takes it (set after open: the flag cannot make open() fail).
        out = std::make_unique<PosixWriter>(final_path, temp_path, fd.release(), m_direct_io, replace);
        return Status::ok();
    }
    return Status::error(Code::busy, "another process keeps replacing \"" + temp_path + "\"");
}

Status PosixStorage::get(const std::string& key, const ByteSink& sink)
{
    if (!valid_key(key))
        return invalid_key(key);
    const std::string path = location(key);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        return io_error("open file", path, errno);
    return stream_fd(fd.get(), path, sink);
}

Status PosixStorage::get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out)
{
    if (!valid_key(key))
        return invalid_key(key);
    const std::string path = location(key);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        return io_error("open file", path, errno);
    return read_at(fd.get(), offset, len, out, path);
}

Status PosixStorage::list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out)
{
    out.clear();
    if (!valid_prefix(prefix))
        return Status::error(Code::invalid, "invalid object key prefix \"" + prefix + "\"");
    // Walk from the deepest directory the prefix names; filter by the full prefix. Each directory's entries
    // are visited in key order (a directory sorts as its name + "/", the smallest key it can hold), so the
    // walk meets keys in byte order and stops once it has max_keys of them: a caller asking for the first
    // key after start_after reads one directory per level, not the whole tree.
    const size_t slash = prefix.rfind('/');
    const std::string start = slash == std::string::npos ? std::string() : prefix.substr(0, slash);
    auto full = [&] { return range.max_keys != 0 && out.size() >= range.max_keys; };
    std::function<Status(const std::string&)> walk = [&](const std::string& rel) -> Status {
        const std::string dir = rel.empty() ? m_root : m_root + "/" + rel;
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) {
            if (errno == ENOENT)
                return Status::ok();
            return io_error("open directory", dir, errno);
        }
        struct Entry {
            std::string key;
            std::string order;  // key, or key + "/" for a directory
            bool is_dir = false;
            bool known = false;  // is_dir read from the directory entry; else stat() decides
        };
        std::vector<Entry> entries;
        errno = 0;
        while (struct dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.')
                continue;
            Entry entry;
            entry.key = rel.empty() ? std::string(e->d_name) : rel + "/" + e->d_name;
            // Prune what cannot contain the prefix.
            const size_t common = std::min(entry.key.size(), prefix.size());
            if (entry.key.compare(0, common, prefix, 0, common) != 0)
                continue;
            // Prune what sorts entirely before start_after: a directory's keys all lie between
            // key + "/" and key + "0" ('0' follows '/'), a file's key is itself.
            if (!range.start_after.empty() && range.start_after.compare(entry.key + "0") >= 0)
                continue;
            entry.known = e->d_type == DT_DIR || e->d_type == DT_REG;
            entry.is_dir = e->d_type == DT_DIR;
            if (!entry.known) {
                struct stat st;
                if (::stat((m_root + "/" + entry.key).c_str(), &st) != 0)
                    continue;  // removed meanwhile
                entry.is_dir = S_ISDIR(st.st_mode);
            }
            entry.order = entry.is_dir ? entry.key + "/" : entry.key;
            entries.push_back(std::move(entry));
        }
        ::closedir(d);
        std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.order < b.order; });
        for (const Entry& entry : entries) {
            if (full())
                break;
            if (entry.is_dir) {
                Status s = walk(entry.key);
                if (!s.is_ok())
                    return s;
                continue;
            }
            if (entry.key.compare(0, prefix.size(), prefix) != 0 || entry.key <= range.start_after)
                continue;
            struct stat st;
            if (::stat((m_root + "/" + entry.key).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
                continue;  // removed meanwhile, or not an object
            out.push_back(ObjectInfo{entry.key, static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime)});
        }
        return Status::ok();
    };
    Status s = walk(start);
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    if (range.max_keys != 0 && out.size() > range.max_keys)
        out.resize(range.max_keys);
    return s;
}

Status PosixStorage::remove(const std::string& key)
{
    if (!valid_key(key))
        return invalid_key(key);
    const std::string path = location(key);
    if (::unlink(path.c_str()) != 0) {
        if (errno == ENOENT)
            return Status::ok();  // already absent (perhaps with its directory)
        return io_error("remove file", path, errno);
    }
    return fsync_directory(dir_of(path));
}

Status PosixStorage::remove_many(const std::vector<std::string>& keys)
{
    std::set<std::string> dirs;
    for (const std::string& key : keys) {
        if (!valid_key(key))
            return invalid_key(key);
        const std::string path = location(key);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            return io_error("remove file", path, errno);
        dirs.insert(dir_of(path));
    }
    // Deepest first, so that a directory emptied by removing its last subdirectory goes too. A directory
    // directly under the root ("wal", "backup") stays.
    std::set<std::string> synced;
    while (!dirs.empty()) {
        auto deepest = std::max_element(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
            return std::count(a.begin(), a.end(), '/') < std::count(b.begin(), b.end(), '/');
        });
        const std::string dir = std::move(dirs.extract(deepest).value());
        const std::string parent = dir_of(dir);
        if (dir.size() > m_root.size() && parent.size() > m_root.size()) {
            if (::rmdir(dir.c_str()) == 0) {
                dirs.insert(parent);
                continue;
            }
            if (errno == ENOENT)
                continue;
        }
        if (synced.insert(dir).second) {
            Status s = fsync_directory(dir);
            if (!s.is_ok() && s.code() != Code::not_found)  // never created: nothing to sync
                return s;
        }
    }
    return Status::ok();
}

Status PosixStorage::sync(const std::string& key)
{
    if (!valid_key(key))
        return invalid_key(key);
    const std::string path = location(key);
    // A writer that crashed after link() and before unlink() left its temp file: remove it unless a live
    // writer holds it.
    const std::string temp_path = temp_path_for(path);
    Fd temp(::open(temp_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (temp.get() >= 0 && ::flock(temp.get(), LOCK_EX | LOCK_NB) == 0)
        ::unlink(temp_path.c_str());
    temp.reset();
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        return io_error("open file", path, errno);
    if (::fsync(fd.get()) != 0)
        return io_error("fsync file", path, errno);
    return fsync_directory(dir_of(path));
}

Status make_directories(const std::string& path)
{
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return Status::ok();
        return Status::error(Code::io_error, "\"" + path + "\" exists but is not a directory");
    }
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
        Status s = make_directories(path.substr(0, slash));
        if (!s.is_ok())
            return s;
    }
    if (::mkdir(path.c_str(), k_posix_dir_mode) != 0 && errno != EEXIST)
        return io_error("create directory", path, errno);
    if (slash != std::string::npos && slash > 0)
        return fsync_directory(path.substr(0, slash));
    return Status::ok();
}

}  // namespace walvault
