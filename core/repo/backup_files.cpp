// Backup file transfer. Each call owns one file descriptor and streams in fixed chunks, so memory per
// worker is the codec's buffers whatever the file size (relation segments are up to 1 GiB).
#include "core/repo/backup_files.h"

#include "core/common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace walvault {
namespace {

constexpr size_t k_read_chunk = 1024 * 1024;  // bytes per read()

struct FdCloser {
    int fd;
    ~FdCloser()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

}  // namespace

Status store_backup_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& path, BackupFile& entry)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open file \"" + path + "\": " + errno_text(errno));
    FdCloser closer{fd};
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    std::unique_ptr<Writer> writer;
    Status s = storage.create(key, writer);
    if (!s.is_ok())
        return s;
    s = encoder.begin(
        compression, [&](const uint8_t* d, size_t n) { return writer->write(d, n); }, std::nullopt);
    thread_local std::vector<uint8_t> buf;
    buf.resize(k_read_chunk);
    while (s.is_ok()) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s = Status::error(Code::io_error, "could not read file \"" + path + "\": " + errno_text(errno));
            break;
        }
        if (n == 0)
            break;
        s = encoder.update(buf.data(), static_cast<size_t>(n));
    }
    EncodeResult result;
    if (s.is_ok())
        s = encoder.finish(entry.path, result);
    if (s.is_ok())
        s = writer->commit();
    if (!s.is_ok()) {
        writer->abort();
        return s;
    }
    entry.size = result.bytes_in;
    entry.sha256 = result.sha256;
    entry.stored_size = result.bytes_out;
    return Status::ok();
}

Status restore_backup_file(Storage& storage, const std::string& key, const std::string& dest, const BackupFile& entry)
{
    const int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, entry.mode & 07777);
    if (fd < 0)
        return Status::error(Code::io_error, "could not create file \"" + dest + "\": " + errno_text(errno));
    FdCloser closer{fd};
    ObjectMeta meta;
    Status s = decode_object(
        storage, key, [&](const uint8_t* d, size_t n) { return write_all(fd, d, n, dest); }, meta);
    if (s.code() == Code::not_found)
        s = Status::error(Code::corrupt, "object \"" + storage.location(key) + "\" is missing");
    if (s.is_ok() && (meta.length != entry.size || meta.sha256 != entry.sha256 || meta.name != entry.path))
        s = Status::error(Code::corrupt,
            "object \"" + storage.location(key) + "\" holds \"" + meta.name + "\" with " + std::to_string(meta.length) +
                " bytes and sha256 " + meta.sha256 + ", the manifest expects \"" + entry.path + "\" with " +
                std::to_string(entry.size) + " bytes and sha256 " + entry.sha256);
    if (s.is_ok() && ::fchmod(fd, entry.mode & 07777) != 0)
        s = Status::error(Code::io_error, "could not set the mode of \"" + dest + "\": " + errno_text(errno));
    if (s.is_ok()) {
        const struct timespec times[2] = {{entry.mtime, 0}, {entry.mtime, 0}};
        if (::futimens(fd, times) != 0)
            s = Status::error(Code::io_error, "could not set the time of \"" + dest + "\": " + errno_text(errno));
    }
    if (s.is_ok() && ::fsync(fd) != 0)
        s = Status::error(Code::io_error, "could not fsync file \"" + dest + "\": " + errno_text(errno));
    if (!s.is_ok())
        ::unlink(dest.c_str());
    return s;
}

}  // namespace walvault
