// restore --delta. Local files are read and written with pread/pwrite at the offsets of their objects, so the
// objects of one file (its parts) may be hashed and patched on any worker in any order. A chunk is written
// only where it differs; the object is still downloaded and decoded whole (a chunk list in the manifest says
// which bytes to write, not which to fetch).
#include "core/repo/delta_restore.h"

#include "core/codec/crc32c.h"
#include "core/codec/sha256.h"
#include "core/codec/xxh3.h"
#include "core/common/file_io.h"
#include "core/repo/backup_files.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

namespace walvault {
namespace {

namespace fs = std::filesystem;

constexpr size_t k_read_bytes = 1024UL * 1024;  // bytes per pread() of a local file

std::vector<uint8_t>& read_buffer()
{
    thread_local std::vector<uint8_t> buf(k_read_bytes);
    return buf;
}

std::vector<uint8_t>& chunk_buffer()
{
    thread_local std::vector<uint8_t> buf(k_delta_chunk_bytes);
    return buf;
}

Status walk(const std::string& root, const std::string& rel, const std::map<std::string, std::string>& versions,
    std::vector<LocalEntry>& out)
{
    const std::string dir = rel.empty() ? root : root + "/" + rel;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const std::string path = rel.empty() ? name : rel + "/" + name;
        const fs::file_status st = it->symlink_status(ec);
        if (ec)
            break;
        LocalEntry e;
        e.path = path;
        Status s;
        if (fs::is_regular_file(st)) {
            e.size = it->file_size(ec);
            if (ec)
                break;
            out.push_back(e);
        } else if (fs::is_directory(st) || (path == "pg_wal" && fs::is_directory(it->path(), ec))) {
            e.type = LocalEntry::Type::directory;
            out.push_back(e);
            s = walk(root, path, versions, out);
        } else {
            e.type = LocalEntry::Type::other;
            out.push_back(e);
            const auto v = versions.find(path);
            if (rel == "pg_tblspc" && fs::is_symlink(st) && v != versions.end() && !v->second.empty() &&
                fs::is_directory(it->path() / v->second, ec)) {
                out.push_back({LocalEntry::Type::directory, path + "/" + v->second, 0});
                s = walk(root, path + "/" + v->second, versions, out);
            }
        }
        if (!s.is_ok())
            return s;
    }
    if (ec)
        return Status::error(Code::io_error, "could not read directory \"" + dir + "\": " + ec.message());
    return Status::ok();
}

std::string parent_of(const std::string& path)
{
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

Status io_error(const std::string& what, const std::string& path, int err)
{
    return Status::error(Code::io_error, "could not " + what + " \"" + path + "\": " + errno_text(err));
}

}  // namespace

Status list_local_directory(const std::string& pgdata,
    const std::vector<std::pair<std::string, std::string>>& tablespace_versions, std::vector<LocalEntry>& out)
{
    out.clear();
    const std::map<std::string, std::string> versions(tablespace_versions.begin(), tablespace_versions.end());
    Status s = walk(pgdata, "", versions, out);
    if (!s.is_ok()) {
        out.clear();
        return s;
    }
    std::sort(out.begin(), out.end(), [](const LocalEntry& a, const LocalEntry& b) { return a.path < b.path; });
    return Status::ok();
}

DeltaPlan plan_delta(
    const BackupManifest& manifest, const std::vector<LocalEntry>& local, const std::set<std::string>& keep)
{
    std::map<std::string, size_t> files;
    for (size_t i = 0; i < manifest.files.size(); i++)
        files[manifest.files[i].path] = i;
    std::set<std::string> dirs;
    for (const BackupDirectory& d : manifest.directories)
        dirs.insert(d.path);

    DeltaPlan plan;
    std::set<std::string> removed;
    std::map<std::string, const LocalEntry*> usable;  // local regular files at a backup file's path
    for (const LocalEntry& e : local) {
        if (keep.count(e.path))
            continue;
        bool gone = false;  // inside a directory the plan removes already
        for (std::string p = parent_of(e.path); !p.empty() && !gone; p = parent_of(p))
            gone = removed.count(p) > 0;
        if (gone)
            continue;
        const bool is_file = files.count(e.path) > 0;
        if (is_file && e.type == LocalEntry::Type::file) {
            usable[e.path] = &e;
            continue;
        }
        if (dirs.count(e.path) && e.type == LocalEntry::Type::directory)
            continue;
        plan.remove.push_back(e.path);
        removed.insert(e.path);
    }
    for (size_t i = 0; i < manifest.files.size(); i++) {
        const BackupFile& f = manifest.files[i];
        if (keep.count(f.path))
            continue;
        const auto u = usable.find(f.path);
        if (u == usable.end() || (f.parts.empty() && u->second->size != f.size))
            plan.write.push_back(i);
        else
            plan.compare.push_back(i);
    }
    return plan;
}

DeltaObject delta_object(const BackupFile& entry, std::optional<size_t> part)
{
    if (!part)
        return {0, entry.size, &entry.sha256, &entry.xxh3_128, &entry.chunk_xxh3};
    const BackupPart& p = entry.parts[*part];
    return {p.offset, p.size, &p.sha256, &p.xxh3_128, &p.chunk_xxh3};
}

size_t delta_object_count(const BackupFile& entry)
{
    return entry.parts.empty() ? 1 : entry.parts.size();
}

size_t delta_chunk_count(uint64_t object_size)
{
    return static_cast<size_t>((object_size + k_delta_chunk_bytes - 1) / k_delta_chunk_bytes);
}

std::vector<bool> chunks_to_rewrite(const DeltaObject& backup, const LocalObject& local)
{
    const size_t n = delta_chunk_count(backup.size);
    std::vector<bool> rewrite(n, false);
    if (backup.chunk_xxh3 != nullptr && !backup.chunk_xxh3->empty()) {
        for (size_t i = 0; i < n; i++)
            rewrite[i] = i >= local.chunk_xxh3.size() || i >= backup.chunk_xxh3->size() ||
                local.chunk_xxh3[i] != (*backup.chunk_xxh3)[i];
        return rewrite;
    }
    const bool has_xxh3 = backup.xxh3_128 != nullptr && !backup.xxh3_128->empty();
    const bool same = local.size == backup.size &&
        (has_xxh3 ? local.xxh3_128 == *backup.xxh3_128 : backup.sha256 != nullptr && local.sha256 == *backup.sha256);
    if (!same)
        std::fill(rewrite.begin(), rewrite.end(), true);
    return rewrite;
}

Status hash_local_object(const std::string& path, const DeltaObject& object, bool want_crc32c, LocalObject& out)
{
    out = LocalObject{};
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? Status::ok() : io_error("open file", path, errno);
    const Fd closer(fd);
    ::posix_fadvise(fd, static_cast<off_t>(object.offset), static_cast<off_t>(object.size), POSIX_FADV_SEQUENTIAL);
    const bool chunks = object.chunk_xxh3 != nullptr && !object.chunk_xxh3->empty();
    const bool has_xxh3 = object.xxh3_128 != nullptr && !object.xxh3_128->empty();
    const bool crc = want_crc32c && crc32c_available();
    std::optional<ChunkHasher> chunk_hash;
    std::optional<Xxh3Hash> xxh3;
    std::optional<Sha256> sha256;
    if (chunks)
        chunk_hash.emplace();
    else if (has_xxh3)
        xxh3.emplace();
    else
        sha256.emplace();
    std::vector<uint8_t>& buf = read_buffer();
    while (out.size < object.size) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), object.size - out.size));
        const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(object.offset + out.size));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return io_error("read file", path, errno);
        if (n == 0)
            break;
        const size_t len = static_cast<size_t>(n);
        if (chunk_hash)
            chunk_hash->update(buf.data(), len);
        if (xxh3)
            xxh3->update(buf.data(), len);
        if (sha256)
            sha256->update(buf.data(), len);
        if (crc)
            out.crc32c = crc32c_extend(out.crc32c, buf.data(), len);
        out.size += len;
    }
    if (chunk_hash) {
        out.chunk_xxh3 = chunk_hash->finish();
        if (out.chunk_xxh3.empty() && out.size > 0)
            out.chunk_xxh3.push_back("");  // one chunk or less read: it cannot match a chunk list of two or more
    }
    if (xxh3)
        out.xxh3_128 = xxh3->finish_hex();
    if (sha256)
        out.sha256 = sha256->finish_hex();
    return Status::ok();
}

Status patch_backup_object(Storage& storage, const std::string& key, const BackupFile& entry,
    std::optional<size_t> part, const std::string& dest, const std::vector<bool>& rewrite, uint32_t* crc32c)
{
    const DeltaObject object = delta_object(entry, part);
    const std::string object_key = part ? backup_part_key(key, *part) : key;
    if (rewrite.size() != delta_chunk_count(object.size))
        return Status::error(Code::invalid,
            "chunk list of \"" + entry.path + "\" has " + std::to_string(rewrite.size()) + " entries for " +
                std::to_string(object.size) + " bytes");
    const int fd = ::open(dest.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return io_error("open file", dest, errno);
    const Fd closer(fd);
    std::vector<uint8_t>& chunk = chunk_buffer();
    const bool crc = crc32c != nullptr && crc32c_available();
    uint32_t sum = 0;
    uint64_t pos = 0;  // in the object
    ObjectMeta meta;
    Status s = decode_object_fast(
        storage, object_key,
        [&](const uint8_t* d, size_t n) {
            if (pos + n > object.size)
                return Status::error(Code::corrupt,
                    "object \"" + storage.location(object_key) + "\" holds more than the " +
                        std::to_string(object.size) + " bytes the manifest expects for \"" + entry.path + "\"");
            if (crc)
                sum = crc32c_extend(sum, d, n);
            while (n > 0) {
                const size_t index = static_cast<size_t>(pos / k_delta_chunk_bytes);
                const size_t at = static_cast<size_t>(pos % k_delta_chunk_bytes);
                const size_t take = std::min<size_t>(n, k_delta_chunk_bytes - at);
                if (rewrite[index])
                    std::memcpy(chunk.data() + at, d, take);
                pos += take;
                d += take;
                n -= take;
                const bool full = pos % k_delta_chunk_bytes == 0 || pos == object.size;
                if (full && rewrite[index]) {
                    const size_t len = at + take;
                    const uint64_t where = object.offset + static_cast<uint64_t>(index) * k_delta_chunk_bytes;
                    Status w = pwrite_all(fd, chunk.data(), len, where, dest);
                    if (!w.is_ok())
                        return w;
                }
            }
            return Status::ok();
        },
        [&] {  // an object without xxh3_128, read again: the same bytes go to the same places
            pos = 0;
            sum = 0;
            return Status::ok();
        },
        meta);
    if (s.code() == Code::not_found)
        s = Status::error(Code::corrupt, "object \"" + storage.location(object_key) + "\" is missing");
    if (s.is_ok() && (meta.length != object.size || meta.sha256 != *object.sha256 || meta.name != entry.path))
        s = Status::error(Code::corrupt,
            "object \"" + storage.location(object_key) + "\" holds \"" + meta.name + "\" with " +
                std::to_string(meta.length) + " bytes and sha256 " + meta.sha256 + ", the manifest expects \"" +
                entry.path + "\" with " + std::to_string(object.size) + " bytes and sha256 " + *object.sha256);
    if (s.is_ok() && crc)
        *crc32c = sum;
    return s;
}

Status read_control_file_identifier(const std::string& path, uint64_t& out)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error("open file", path, errno);
    const Fd closer(fd);
    uint8_t buf[sizeof(out)];
    const ssize_t n = ::pread(fd, buf, sizeof(buf), 0);
    if (n != static_cast<ssize_t>(sizeof(buf)))
        return n < 0 ? io_error("read file", path, errno)
                     : Status::error(Code::corrupt, "file \"" + path + "\" is too short for a pg_control file");
    std::memcpy(&out, buf, sizeof(out));
    return Status::ok();
}

}  // namespace walvault
