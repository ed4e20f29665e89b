// File I/O helpers; see file_io.h.
#include "core/common/file_io.h"

#include <unistd.h>

#include <cerrno>

namespace walvault {

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

}  // namespace walvault
