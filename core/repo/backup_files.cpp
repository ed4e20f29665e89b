// Backup file transfer. Each call owns its file descriptors and streams in fixed chunks, so memory per
// worker is the codec's buffers whatever the file size (relation segments are up to 1 GiB). Parts of a file
// are read and written with pread/pwrite at their own offsets, never shifted, so parts may run in any order.
#include "core/repo/backup_files.h"

#include "core/codec/crc32c.h"
#include "core/codec/sha256.h"
#include "core/codec/xxh3.h"
#include "core/common/direct_io.h"
#include "core/common/file_io.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <random>
#include <vector>

namespace walvault {
namespace {

constexpr size_t k_read_chunk = 1024UL * 1024;  // bytes per pread()
// Restore writes an object of at least this many bytes past the page cache, in writes of k_read_chunk;
// smaller ones (most files of a data directory, but few of its bytes) through it.
constexpr uint64_t k_restore_direct_min = 1024UL * 1024;

std::vector<uint8_t>& chunk_buffer()
{
    thread_local std::vector<uint8_t> buf(k_read_chunk);
    return buf;
}

}  // namespace

void ChunkHasher::update(const uint8_t* data, size_t len)
{
    while (len > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(len, k_delta_chunk_bytes - m_fill));
        m_hash.update(data, n);
        m_fill += n;
        data += n;
        len -= n;
        if (m_fill == k_delta_chunk_bytes) {
            m_chunks.push_back(m_hash.finish_hex());
            m_fill = 0;
        }
    }
}

std::vector<std::string> ChunkHasher::finish()
{
    if (m_fill > 0)
        m_chunks.push_back(m_hash.finish_hex());
    m_fill = 0;
    if (m_chunks.size() <= 1)
        m_chunks.clear();
    return std::move(m_chunks);
}

bool combine_part_crc32c(const BackupFile& entry, const std::vector<uint32_t>& part_crc, std::string& out)
{
    if (!crc32c_available() || part_crc.size() != entry.parts.size())
        return false;
    uint64_t end = 0;
    uint32_t crc = 0;
    for (size_t i = 0; i < entry.parts.size(); i++) {
        const BackupPart& part = entry.parts[i];
        if (part.offset != end)
            return false;
        crc = i == 0 ? part_crc[i] : crc32c_concat(crc, part_crc[i], part.size);
        end += part.size;
    }
    if (end != entry.size)
        return false;
    out = crc32c_manifest_hex(crc);
    return true;
}

size_t backup_part_count(uint64_t size, uint64_t part_size)
{
    if (part_size == 0 || size <= part_size)
        return 0;
    return static_cast<size_t>((size + part_size - 1) / part_size);
}

Status store_backup_range(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& path, const std::string& name, uint64_t offset, uint64_t max_len, BackupPart& out)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open file \"" + path + "\": " + errno_text(errno));
    const Fd closer(fd);
    ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(max_len), POSIX_FADV_SEQUENTIAL);

    std::unique_ptr<Writer> writer;
    Status s = storage.create(key, writer);
    if (!s.is_ok())
        return s;
    s = encoder.begin(
        compression, [&](const uint8_t* d, size_t n) { return writer->write(d, n); }, std::nullopt);
    std::vector<uint8_t>& buf = chunk_buffer();
    ChunkHasher chunks;
    uint64_t pos = offset;
    while (s.is_ok()) {
        size_t want = buf.size();
        if (max_len != 0)
            want = static_cast<size_t>(std::min<uint64_t>(want, offset + max_len - pos));
        if (want == 0)
            break;
        const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(pos));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s = Status::error(Code::io_error, "could not read file \"" + path + "\": " + errno_text(errno));
            break;
        }
        if (n == 0)
            break;
        pos += static_cast<uint64_t>(n);
        chunks.update(buf.data(), static_cast<size_t>(n));
        s = encoder.update(buf.data(), static_cast<size_t>(n));
    }
    EncodeResult result;
    if (s.is_ok())
        s = encoder.finish(name, result);
    if (s.is_ok())
        s = writer->commit();
    if (!s.is_ok()) {
        writer->abort();
        return s;
    }
    out.offset = offset;
    out.size = result.bytes_in;
    out.sha256 = result.sha256;
    out.stored_size = result.bytes_out;
    out.xxh3_128 = result.xxh3_128;
    out.chunk_xxh3 = chunks.finish();
    return Status::ok();
}

Status store_backup_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& path, BackupFile& entry)
{
    BackupPart whole;
    Status s = store_backup_range(storage, encoder, compression, key, path, entry.path, 0, 0, whole);
    if (!s.is_ok())
        return s;
    entry.size = whole.size;
    entry.sha256 = whole.sha256;
    entry.stored_size = whole.stored_size;
    entry.xxh3_128 = std::move(whole.xxh3_128);
    entry.chunk_xxh3 = std::move(whole.chunk_xxh3);
    entry.parts.clear();
    return Status::ok();
}

FileRestore::FileRestore(const BackupFile& entry, std::string file_key, std::string dest)
    : m_entry(entry)
    , m_key(std::move(file_key))
    , m_dest(std::move(dest))
    , m_remaining(task_count())
    , m_part_crc(m_entry.parts.size(), 0)
{
}

size_t FileRestore::task_count() const
{
    return m_entry.parts.empty() ? 1 : m_entry.parts.size();
}

// Creation and opening happen under the mutex, so that no task opens dest after a failed one removed it.
// The file is created 0600 whatever its mode, so that the other parts can open it for writing too.
Status FileRestore::open_for_task(int& fd)
{
    std::lock_guard lock(m_mutex);
    if (m_failed)
        return Status::error(Code::io_error, "restore of file \"" + m_dest + "\" was abandoned after a failure");
    if (!m_created) {
        fd = ::open(m_dest.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            m_failed = true;  // not ours: never removed
            return Status::error(Code::io_error, "could not create file \"" + m_dest + "\": " + errno_text(errno));
        }
        m_created = true;
        return Status::ok();
    }
    fd = ::open(m_dest.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return Status::error(Code::io_error, "could not open file \"" + m_dest + "\": " + errno_text(errno));
    return Status::ok();
}

void FileRestore::fail()
{
    std::lock_guard lock(m_mutex);
    if (m_created && !m_failed)
        ::unlink(m_dest.c_str());
    m_failed = true;
}

Status FileRestore::restore_task(Storage& storage, size_t index)
{
    const bool parted = !m_entry.parts.empty();
    if (index >= task_count())
        return Status::error(Code::invalid, "file \"" + m_entry.path + "\" has no part " + std::to_string(index));
    const uint64_t offset = parted ? m_entry.parts[index].offset : 0;
    const uint64_t size = parted ? m_entry.parts[index].size : m_entry.size;
    const std::string& sha256 = parted ? m_entry.parts[index].sha256 : m_entry.sha256;
    const std::string key = parted ? backup_part_key(m_key, index) : m_key;

    int fd = -1;
    Status s = open_for_task(fd);
    if (!s.is_ok()) {
        fail();
        return s;
    }
    const Fd closer(fd);
    ObjectMeta meta;
    uint64_t written = 0;
    std::optional<DirectStream> out;
    auto open_stream = [&] { out.emplace(fd, offset, size >= k_restore_direct_min, k_read_chunk, true); };
    open_stream();
    const bool crc = parted && crc32c_available();
    uint32_t part_crc = 0;
    s = decode_object_fast(
        storage, key,
        [&](const uint8_t* d, size_t n) {
            // Never past the part's end: that is the next part's place.
            if (written + n > size)
                return Status::error(Code::corrupt,
                    "object \"" + storage.location(key) + "\" holds more than the " + std::to_string(size) +
                        " bytes the manifest expects for \"" + m_entry.path + "\"");
            if (crc)
                part_crc = crc32c_extend(part_crc, d, n);
            written += n;
            const int err = out->write(d, n);
            return err == 0 ? Status::ok() : write_error(err);
        },
        [&] {  // an object without xxh3_128, read again: the same bytes go to the same place
            out.reset();
            open_stream();
            written = 0;
            part_crc = 0;
            return Status::ok();
        },
        meta);
    if (s.is_ok())
        if (const int err = out->flush(); err != 0)
            s = write_error(err);
    if (s.code() == Code::not_found)
        s = Status::error(Code::corrupt, "object \"" + storage.location(key) + "\" is missing");
    // The decoder checked the bytes against the trailer (its xxh3_128); the trailer's sha256 says they are the
    // bytes the manifest expects.
    if (s.is_ok() && (meta.length != size || meta.sha256 != sha256 || meta.name != m_entry.path))
        s = Status::error(Code::corrupt,
            "object \"" + storage.location(key) + "\" holds \"" + meta.name + "\" with " + std::to_string(meta.length) +
                " bytes and sha256 " + meta.sha256 + ", the manifest expects \"" + m_entry.path + "\" with " +
                std::to_string(size) + " bytes and sha256 " + sha256);
    bool last = false;
    if (s.is_ok()) {
        std::lock_guard lock(m_mutex);
        if (parted)
            m_part_crc[index] = part_crc;
        last = --m_remaining == 0 && !m_failed;
    }
    if (s.is_ok() && last)
        s = finish(fd);
    if (!s.is_ok())
        fail();
    return s;
}

Status FileRestore::write_error(int err) const
{
    return Status::error(Code::io_error, "could not write file \"" + m_dest + "\": " + errno_text(err));
}

bool FileRestore::combine_part_crcs()
{
    if (!combine_part_crc32c(m_entry, m_part_crc, m_checksum))
        return false;
    m_checksum_algorithm = k_pg_checksum_crc32c;
    return true;
}

Status FileRestore::finish(int fd)
{
    if (::ftruncate(fd, static_cast<off_t>(m_entry.size)) != 0)
        return Status::error(Code::io_error, "could not set the length of \"" + m_dest + "\": " + errno_text(errno));
    if (m_entry.parts.empty()) {
        m_checksum_algorithm = k_pg_checksum_sha256;
        m_checksum = m_entry.sha256;
    } else if (!combine_part_crcs()) {
        // No one read the original in one pass: the checksum of the restored file is what PostgreSQL's
        // backup_manifest gets, so that pg_verifybackup can check the directory later.
        Sha256 hash;
        std::vector<uint8_t>& buf = chunk_buffer();
        uint64_t pos = 0;
        while (pos < m_entry.size) {
            const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), m_entry.size - pos));
            const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(pos));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return Status::error(Code::io_error,
                    "could not read back file \"" + m_dest + "\": " + (n < 0 ? errno_text(errno) : "unexpected end"));
            hash.update(buf.data(), static_cast<size_t>(n));
            pos += static_cast<uint64_t>(n);
        }
        m_checksum_algorithm = k_pg_checksum_sha256;
        m_checksum = hash.finish_hex();
    }
    if (::fchmod(fd, m_entry.mode & 07777) != 0)
        return Status::error(Code::io_error, "could not set the mode of \"" + m_dest + "\": " + errno_text(errno));
    const struct timespec times[2] = {{m_entry.mtime, 0}, {m_entry.mtime, 0}};
    if (::futimens(fd, times) != 0)
        return Status::error(Code::io_error, "could not set the time of \"" + m_dest + "\": " + errno_text(errno));
    return Status::ok();
}

Status restore_backup_file(Storage& storage, const std::string& key, const std::string& dest, const BackupFile& entry)
{
    FileRestore file(entry, key, dest);
    for (size_t i = 0; i < file.task_count(); i++) {
        Status s = file.restore_task(storage, i);
        if (!s.is_ok())
            return s;
    }
    const int fd = ::open(dest.c_str(), O_RDONLY | O_CLOEXEC);
    Status s;
    if (fd < 0 || ::fsync(fd) != 0)
        s = Status::error(Code::io_error, "could not fsync file \"" + dest + "\": " + errno_text(errno));
    if (fd >= 0)
        ::close(fd);
    if (!s.is_ok())
        ::unlink(dest.c_str());
    return s;
}

namespace {

constexpr const char* k_claim_field = "claim";
constexpr size_t k_claim_token_bytes = 16;

std::string random_token()
{
    std::random_device device;  // getrandom() on Linux
    std::string token;
    for (size_t i = 0; i < k_claim_token_bytes; i++) {
        char hex[3];
        std::snprintf(hex, sizeof(hex), "%02x", static_cast<unsigned>(device() & 0xff));
        token += hex;
    }
    return token;
}

Status label_taken(Storage& storage, const std::string& label)
{
    return Status::error(Code::already_exists,
        "backup \"" + label + "\" is already being taken, or exists, in \"" + storage.location() + "\"",
        "Another walvault backup has claimed this label. Choose another --label, or wait for that backup to "
        "end and look at walvault list.");
}

}  // namespace

Status claim_backup_label(Storage& storage, const std::string& label, const std::string& started,
    uint64_t system_identifier, std::string& token)
{
    token = random_token();
    const nlohmann::json doc = {{"label", label}, {"started", started},
        {"system_identifier", std::to_string(system_identifier)}, {k_claim_field, token}};
    Status s = write_small_object(storage, backup_started_key(label), doc.dump(1) + "\n");
    if (!s.is_ok()) {
        // Taken by a writer that finished (already_exists) or one that is writing it now (busy).
        if (s.code() == Code::already_exists || s.code() == Code::busy)
            return label_taken(storage, label);
        return s;
    }
    return check_backup_claim(storage, label, token);
}

Status check_backup_claim(Storage& storage, const std::string& label, const std::string& token)
{
    std::string text;
    Status s = storage.get(backup_started_key(label), [&](const uint8_t* data, size_t len) {
        text.append(reinterpret_cast<const char*>(data), len);
        return Status::ok();
    });
    if (s.code() == Code::not_found)
        return label_taken(storage, label);  // removed under us: by backup-delete, or a run that lost it
    if (!s.is_ok())
        return s.prefix("could not read back \"" + storage.location(backup_started_key(label)) + "\"");
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object() || !doc.contains(k_claim_field) || !doc[k_claim_field].is_string() ||
        doc[k_claim_field].get<std::string>() != token)
        return label_taken(storage, label);
    return Status::ok();
}

}  // namespace walvault
