// Plain file I/O helpers for code that works through file descriptors (posix storage, wal-fetch, the spool,
// restore, the credentials files): the one copy of each, so they agree on retries, errors and durability.
#pragma once

#include "core/common/byte_sink.h"
#include "core/common/status.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include <sys/stat.h>

namespace walvault {

// Owns a file descriptor: closed when the owner goes (or at reset), unless released first.
class Fd {
public:
    explicit Fd(int fd = -1)
        : m_fd(fd)
    {
    }
    ~Fd() { reset(); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return m_fd; }
    int release()
    {
        const int fd = m_fd;
        m_fd = -1;
        return fd;
    }
    void reset(int fd = -1);

private:
    int m_fd;
};

// Writes all of data to fd, retrying short writes and EINTR; path is for the message.
Status write_all(int fd, const uint8_t* data, size_t len, const std::string& path);
// The same at offset (pwrite), leaving the file offset alone.
Status pwrite_all(int fd, const uint8_t* data, size_t len, uint64_t offset, const std::string& path);
// pwrite_all for callers that act on the error: 0, or the errno of the failed pwrite.
int pwrite_fully(int fd, const uint8_t* data, size_t len, uint64_t offset);
// Empties the file and moves its offset to 0, for a writer that starts over; path is for the message.
Status rewind_file(int fd, const std::string& path);

// fsync of a directory, so that a rename, link or unlink in it survives a crash. A file system that cannot
// fsync directories (EINVAL) counts as success; a missing directory is Code::not_found.
Status fsync_directory(const std::string& path);

// Reads a whole regular file of at most max_bytes into text. Nothing at the path (ENOENT, ENOTDIR) is not an
// error: present = false and text empty. Not a regular file, or larger than max_bytes, is Code::invalid.
// st, when given, receives the file's fstat of the read.
Status read_small_file(
    const std::string& path, size_t max_bytes, bool& present, std::string& text, struct stat* st = nullptr);

// Streams the whole file at path to sink in chunks of chunk bytes; length receives the bytes read. A missing
// file is Code::not_found; the messages name the path.
Status read_file_chunks(const std::string& path, size_t chunk, const ByteSink& sink, uint64_t& length);

// Replaces path with text atomically and durably: writes path + temp_suffix (mode 0600), fsyncs it, renames
// it over path. The directory is not fsynced (the caller does, once for all its files). On failure the
// temporary file is removed and path is left as it was.
Status write_small_file(const std::string& path, const std::string& text, const std::string& temp_suffix);

}  // namespace walvault
