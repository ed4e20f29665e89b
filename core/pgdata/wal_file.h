// WAL files in a data directory's pg_wal, read without PostgreSQL headers: the long page header every
// segment begins with (xlog_internal.h's XLogLongPageHeaderData), and the checks that tell a segment of
// this database system at its own address from a recycled or foreign file before it goes into a
// repository (walvault wal-push, walvault repair).
#pragma once

#include "core/common/status.h"
#include "core/wal/wal_name.h"

#include <cstdint>
#include <string>

namespace walvault {

constexpr size_t k_wal_long_header_bytes = 40;  // XLogLongPageHeaderData's size

// The first page header of a segment. The layout has been the same since PostgreSQL 11: xlp_magic (2 bytes,
// changes with every major), xlp_info (2; XLP_LONG_HEADER = 0x0002 on a segment's first page), xlp_tli (4),
// xlp_pageaddr (8), xlp_rem_len (4, then padding to 24), xlp_sysid (8), xlp_seg_size (4), xlp_xlog_blcksz (4);
// in the machine's byte order.
struct WalPageHeader {
    uint16_t magic = 0;
    uint16_t info = 0;
    uint32_t timeline = 0;
    uint64_t page_address = 0;  // the LSN the page starts at
    uint64_t system_identifier = 0;
    uint32_t segment_size = 0;
    uint32_t block_size = 0;

    bool long_header() const { return (info & 0x0002) != 0; }
};

// Reads the first page header of the file at path. Code::not_found if it is absent; Code::corrupt, naming
// the file, if it is shorter than a long page header.
Status read_wal_page_header(const std::string& path, WalPageHeader& out);

// Parses the first len bytes of a segment (at least a long page header's 40) into out; Code::corrupt if len is
// shorter.
Status parse_wal_page_header(const uint8_t* bytes, size_t len, WalPageHeader& out);

// Checks a segment's first page header against what segment (or partial segment) `name` of database system
// `system_identifier` with segments of segment_size bytes must begin with: a long page header whose system
// identifier, segment size and page address (the segment's first LSN) match. Code::conflict otherwise, the
// message starting with `what` (the file or object) and naming what differs.
Status check_wal_page_header(const WalPageHeader& header, const WalName& name, uint64_t system_identifier,
    uint64_t segment_size, const std::string& what);

// Checks that the file at path is segment (or partial segment) `name` of database system
// `system_identifier` with segments of segment_size bytes: a long page header whose system identifier,
// segment size and page address (the segment's first LSN) match, and, for a complete segment, exactly
// segment_size bytes. A recycled segment (its header still names the segment it was before) and a file of
// another cluster fail with Code::conflict, naming what differs.
Status check_wal_segment_file(
    const std::string& path, const WalName& name, uint64_t system_identifier, uint64_t segment_size);

}  // namespace walvault
