// Plain file I/O helpers for code that writes through file descriptors (posix storage, wal-fetch).
#pragma once

#include "core/common/status.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace walvault {

// Writes all of data to fd, retrying short writes and EINTR; path is for the message.
Status write_all(int fd, const uint8_t* data, size_t len, const std::string& path);
// The same at offset (pwrite), leaving the file offset alone.
Status pwrite_all(int fd, const uint8_t* data, size_t len, uint64_t offset, const std::string& path);
// pwrite_all for callers that act on the error: 0, or the errno of the failed pwrite.
int pwrite_fully(int fd, const uint8_t* data, size_t len, uint64_t offset);
// Empties the file and moves its offset to 0, for a writer that starts over; path is for the message.
Status rewind_file(int fd, const std::string& path);

}  // namespace walvault
