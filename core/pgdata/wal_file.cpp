// WAL files in pg_wal; see wal_file.h.
#include "core/pgdata/wal_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace walvault {
namespace {

template <typename T> T field(const uint8_t* bytes, size_t offset)
{
    T value;
    std::memcpy(&value, bytes + offset, sizeof(value));
    return value;
}

std::string hex_lsn(uint64_t lsn)
{
    return format_lsn(lsn);
}

}  // namespace

Status read_wal_page_header(const std::string& path, WalPageHeader& out)
{
    out = WalPageHeader{};
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open file \"" + path + "\": " + errno_text(errno));
    uint8_t bytes[k_wal_long_header_bytes];
    size_t got = 0;
    while (got < sizeof(bytes)) {
        const ssize_t n = ::pread(fd, bytes + got, sizeof(bytes) - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return Status::error(Code::io_error, "could not read file \"" + path + "\": " + errno_text(err));
        }
        if (n == 0)
            break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    if (got < sizeof(bytes))
        return Status::error(Code::corrupt,
            "file \"" + path + "\" is too short to be a WAL segment (" + std::to_string(got) + " bytes)");
    return parse_wal_page_header(bytes, got, out);
}

Status parse_wal_page_header(const uint8_t* bytes, size_t len, WalPageHeader& out)
{
    out = WalPageHeader{};
    if (len < k_wal_long_header_bytes)
        return Status::error(Code::corrupt, "too short to be a WAL segment (" + std::to_string(len) + " bytes)");
    out.magic = field<uint16_t>(bytes, 0);
    out.info = field<uint16_t>(bytes, 2);
    out.timeline = field<uint32_t>(bytes, 4);
    out.page_address = field<uint64_t>(bytes, 8);
    out.system_identifier = field<uint64_t>(bytes, 24);
    out.segment_size = field<uint32_t>(bytes, 32);
    out.block_size = field<uint32_t>(bytes, 36);
    return Status::ok();
}

Status check_wal_page_header(const WalPageHeader& h, const WalName& name, uint64_t system_identifier,
    uint64_t segment_size, const std::string& what)
{
    if (!h.long_header())
        return Status::error(Code::conflict, what + " does not begin with a WAL segment's long page header");
    if (h.system_identifier != system_identifier)
        return Status::error(Code::conflict,
            what + " belongs to database system " + std::to_string(h.system_identifier) + ", not to " +
                std::to_string(system_identifier));
    if (h.segment_size != segment_size)
        return Status::error(Code::conflict,
            what + " is from a cluster with WAL segments of " + std::to_string(h.segment_size) + " bytes, not " +
                std::to_string(segment_size));
    const uint64_t expected = segment_number(name, segment_size) * segment_size;
    if (h.page_address != expected)
        return Status::error(Code::conflict,
            what + " starts at " + hex_lsn(h.page_address) + ", not at " + hex_lsn(expected) + " as \"" + name.text +
                "\" must");
    return Status::ok();
}

Status check_wal_segment_file(
    const std::string& path, const WalName& name, uint64_t system_identifier, uint64_t segment_size)
{
    WalPageHeader h;
    Status s = read_wal_page_header(path, h);
    if (!s.is_ok())
        return s;
    const std::string what = "file \"" + path + "\"";
    s = check_wal_page_header(h, name, system_identifier, segment_size, what);
    // Failed on the page address alone: a segment of this cluster that still holds an older segment's pages.
    if (!s.is_ok() && h.long_header() && h.system_identifier == system_identifier && h.segment_size == segment_size)
        return Status::error(s.code(), s.message() + ": it is a recycled segment, not yet rewritten");
    if (!s.is_ok())
        return s;
    if (name.kind == WalKind::segment) {
        struct stat st;
        if (::stat(path.c_str(), &st) != 0)
            return Status::error(Code::io_error, "could not stat " + what + ": " + errno_text(errno));
        if (static_cast<uint64_t>(st.st_size) != segment_size)
            return Status::error(Code::conflict,
                what + " has " + std::to_string(st.st_size) + " bytes, not " + std::to_string(segment_size) +
                    " as a complete segment must");
    }
    return Status::ok();
}

}  // namespace walvault
