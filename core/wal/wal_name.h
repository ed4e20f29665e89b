// WAL file names as PostgreSQL writes them (mirrors src/include/access/xlog_internal.h): segments,
// .partial segments, timeline .history files and .backup history files; LSNs; archive order.
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace walvault {

constexpr uint64_t k_default_wal_segment_size = 16UL * 1024 * 1024;  // PostgreSQL's default, bytes
constexpr uint64_t k_min_wal_segment_size = 1024UL * 1024;           // initdb --wal-segsize limits
constexpr uint64_t k_max_wal_segment_size = 1024UL * 1024 * 1024;
constexpr size_t k_xlog_fname_len = 24;         // XLOG_FNAME_LEN
constexpr size_t k_max_wal_file_name_len = 40;  // MAX_XFN_CHARS in pgarch.h

enum class WalKind {
    segment,  // 000000010000000000000003
    partial,  // 000000010000000000000003.partial (end of a timeline, written at promotion)
    history,  // 00000002.history
    backup,   // 000000010000000000000003.00000028.backup
};

struct WalName {
    WalKind kind = WalKind::segment;
    uint32_t timeline = 0;
    uint32_t log = 0;            // high 32 bits of the segment's LSN ("xlogid")
    uint32_t seg = 0;            // segment within log; its range depends on the segment size
    uint32_t backup_offset = 0;  // for .backup files: offset of the backup start in the segment
    std::string text;            // the name as given
};

// Parses a WAL file name; nullopt if it is not one of the four kinds (upper-case hex only, as PostgreSQL
// writes them).
std::optional<WalName> parse_wal_name(std::string_view name);

// True for a power of two between 1 MiB and 1 GiB, the sizes initdb accepts.
bool valid_wal_segment_size(uint64_t bytes);

// Segment number counted from LSN 0 (XLogSegNo), for a segment, partial or backup name.
uint64_t segment_number(const WalName& name, uint64_t segment_size);

// The 24-character segment name of segment number segno on timeline tli.
std::string segment_file_name(uint32_t timeline, uint64_t segno, uint64_t segment_size);

// The name of the segment that follows name's segment on the same timeline.
std::string next_segment_name(const WalName& name, uint64_t segment_size);

// "00000002.history"
std::string history_file_name(uint32_t timeline);

// PostgreSQL's archive order: timeline history files first, then by name (oldest segment first).
bool archive_order_less(std::string_view a, std::string_view b);

// LSNs in PostgreSQL's text form "16/B374D848".
std::optional<uint64_t> parse_lsn(std::string_view text);
std::string format_lsn(uint64_t lsn);

}  // namespace walvault
