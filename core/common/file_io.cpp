// File I/O helpers; see file_io.h.
#include "core/common/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace walvault {

void Fd::reset(int fd)
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = fd;
}

Status write_all(int fd, const uint8_t* data, size_t len, const std::string& path)
{
    while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return Status::error(Code::io_error, "could not write to file \"" + path + "\": " + errno_text(errno));
        }
        data += n;
        len -= static_cast<size_t>(n);
    }
    return Status::ok();
}

Status rewind_file(int fd, const std::string& path)
{
    if (::ftruncate(fd, 0) != 0)
        return Status::error(Code::io_error, "could not truncate file \"" + path + "\": " + errno_text(errno));
    if (::lseek(fd, 0, SEEK_SET) != 0)
        return Status::error(Code::io_error, "could not seek in file \"" + path + "\": " + errno_text(errno));
    return Status::ok();
}

int pwrite_fully(int fd, const uint8_t* data, size_t len, uint64_t offset)
{
    while (len > 0) {
        const ssize_t n = ::pwrite(fd, data, len, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        data += n;
        len -= static_cast<size_t>(n);
        offset += static_cast<uint64_t>(n);
    }
    return 0;
}

Status pwrite_all(int fd, const uint8_t* data, size_t len, uint64_t offset, const std::string& path)
{
    const int err = pwrite_fully(fd, data, len, offset);
    if (err != 0)
        return Status::error(Code::io_error, "could not write file \"" + path + "\": " + errno_text(err));
    return Status::ok();
}

Status fsync_directory(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open directory \"" + path + "\": " + errno_text(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    // EINVAL: "fd is bound to a special file which does not support synchronization" (fsync(2)). Some file
    // systems (vfat and some FUSE and network ones) say so for a directory: their directory entries are not
    // made durable by fsync at all, so there is nothing more this call could do, and failing here would make
    // such a repository or data directory unusable. PostgreSQL's fsync_fname() ignores the same error on
    // directories for the same reason.
    if (rc != 0 && err != EINVAL)
        return Status::error(Code::io_error, "could not fsync directory \"" + path + "\": " + errno_text(err));
    return Status::ok();
}

Status read_small_file(const std::string& path, size_t max_bytes, bool& present, std::string& text, struct stat* st)
{
    present = false;
    text.clear();
    // O_NONBLOCK: a FIFO at the path must not hang the caller; it is refused below as not a regular file.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return Status::ok();
        return Status::error(Code::io_error, "could not open file \"" + path + "\": " + errno_text(err));
    }
    struct stat sb;
    if (::fstat(fd, &sb) != 0) {
        const int err = errno;
        ::close(fd);
        return Status::error(Code::io_error, "could not stat file \"" + path + "\": " + errno_text(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        ::close(fd);
        return Status::error(Code::invalid, "\"" + path + "\" is not a regular file");
    }
    const auto too_large = [&](uint64_t size) {
        return Status::error(Code::invalid,
            "file \"" + path + "\" is too large (" + std::to_string(size) + " bytes, at most " +
                std::to_string(max_bytes) + ")");
    };
    if (static_cast<uint64_t>(sb.st_size) > max_bytes) {
        ::close(fd);
        return too_large(static_cast<uint64_t>(sb.st_size));
    }
    // The size is checked again while reading: files in /proc report 0, and a file may grow.
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            text.clear();
            return Status::error(Code::io_error, "could not read file \"" + path + "\": " + errno_text(err));
        }
        if (n == 0)
            break;
        text.append(buffer, static_cast<size_t>(n));
        if (text.size() > max_bytes) {
            ::close(fd);
            const uint64_t size = text.size();
            text.clear();
            return too_large(size);
        }
    }
    ::close(fd);
    if (st != nullptr)
        *st = sb;
    present = true;
    return Status::ok();
}

Status write_small_file(const std::string& path, const std::string& text, const std::string& temp_suffix)
{
    const std::string temp = path + temp_suffix;
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return Status::error(Code::io_error, "could not create file \"" + temp + "\": " + errno_text(errno));
    Status s = write_all(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), temp);
    if (s.is_ok() && ::fsync(fd) != 0)
        s = Status::error(Code::io_error, "could not fsync file \"" + temp + "\": " + errno_text(errno));
    ::close(fd);
    if (s.is_ok() && ::rename(temp.c_str(), path.c_str()) != 0)
        s = Status::error(
            Code::io_error, "could not rename \"" + temp + "\" to \"" + path + "\": " + errno_text(errno));
    if (!s.is_ok())
        ::unlink(temp.c_str());
    return s;
}

Status read_file_chunks(const std::string& path, size_t chunk, const ByteSink& sink, uint64_t& length)
{
    length = 0;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open file \"" + path + "\": " + errno_text(errno));
    std::vector<uint8_t> buf(chunk);
    Status s;
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s = Status::error(Code::io_error, "could not read file \"" + path + "\": " + errno_text(errno));
            break;
        }
        if (n == 0)
            break;
        length += static_cast<uint64_t>(n);
        s = sink(buf.data(), static_cast<size_t>(n));
        if (!s.is_ok())
            break;
    }
    ::close(fd);
    return s;
}

}  // namespace walvault
