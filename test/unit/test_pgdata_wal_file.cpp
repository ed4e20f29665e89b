// Unit tests for core/pgdata/wal_file: a segment's long page header read from its first bytes, and the checks
// that refuse a recycled segment, another cluster's segment, a short file and a file that is no segment.
#include "core/pgdata/wal_file.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

constexpr uint64_t k_seg = 16 * 1024 * 1024;
constexpr uint64_t k_sysid = 7311234567890123456ULL;

// A file that starts as PostgreSQL 15 writes a segment: magic 0xD110, XLP_LONG_HEADER, the page address and
// the system identifier, then zeros up to `size` bytes.
std::string segment_file(const TempDir& dir, const std::string& name, uint64_t page_address, uint64_t sysid,
    size_t size = k_seg, uint16_t info = 0x0002)
{
    std::vector<uint8_t> bytes(std::max<size_t>(size, 40), 0);  // the header, cut to size below
    const uint16_t magic = 0xD110;
    const uint32_t tli = 1, seg_size = k_seg, blcksz = 8192;
    std::memcpy(bytes.data() + 0, &magic, 2);
    std::memcpy(bytes.data() + 2, &info, 2);
    std::memcpy(bytes.data() + 4, &tli, 4);
    std::memcpy(bytes.data() + 8, &page_address, 8);
    std::memcpy(bytes.data() + 24, &sysid, 8);
    std::memcpy(bytes.data() + 32, &seg_size, 4);
    std::memcpy(bytes.data() + 36, &blcksz, 4);
    bytes.resize(size);
    const std::string path = dir / name;
    test::write_file(path, bytes);
    return path;
}

TEST(WalFile, ReadsTheLongPageHeader)
{
    TempDir dir;
    const std::string path = segment_file(dir, "000000010000000000000003", 3 * k_seg, k_sysid, 4096);
    WalPageHeader h;
    WV_ASSERT_OK(read_wal_page_header(path, h));
    EXPECT_EQ(h.magic, 0xD110);
    EXPECT_TRUE(h.long_header());
    EXPECT_EQ(h.timeline, 1u);
    EXPECT_EQ(h.page_address, 3 * k_seg);
    EXPECT_EQ(h.system_identifier, k_sysid);
    EXPECT_EQ(h.segment_size, k_seg);
    EXPECT_EQ(h.block_size, 8192u);
}

TEST(WalFile, ASegmentAtItsOwnAddressPasses)
{
    TempDir dir;
    const std::string path = segment_file(dir, "000000010000000000000003", 3 * k_seg, k_sysid);
    WV_EXPECT_OK(check_wal_segment_file(path, *parse_wal_name("000000010000000000000003"), k_sysid, k_seg));
    // A partial segment may be shorter.
    const std::string partial = segment_file(dir, "000000010000000000000004.partial", 4 * k_seg, k_sysid, 8192);
    WV_EXPECT_OK(check_wal_segment_file(partial, *parse_wal_name("000000010000000000000004.partial"), k_sysid, k_seg));
}

TEST(WalFile, RecycledForeignShortAndOddFilesAreRefused)
{
    TempDir dir;
    const WalName name = *parse_wal_name("000000010000000000000009");
    // Recycled: the file was segment 3 and has not been rewritten yet.
    std::string path = segment_file(dir, "recycled", 3 * k_seg, k_sysid);
    Status s = check_wal_segment_file(path, name, k_sysid, k_seg);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        "file \"" + path +
            "\" starts at 0/3000000, not at 0/9000000 as \"000000010000000000000009\" "
            "must: it is a recycled segment, not yet rewritten");
    path = segment_file(dir, "foreign", 9 * k_seg, 42);
    s = check_wal_segment_file(path, name, k_sysid, k_seg);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(), "file \"" + path + "\" belongs to database system 42, not to " + std::to_string(k_sysid));
    path = segment_file(dir, "short", 9 * k_seg, k_sysid, 8192);
    s = check_wal_segment_file(path, name, k_sysid, k_seg);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(), "file \"" + path + "\" has 8192 bytes, not 16777216 as a complete segment must");
    path = segment_file(dir, "tiny", 9 * k_seg, k_sysid, 20);
    EXPECT_EQ(check_wal_segment_file(path, name, k_sysid, k_seg).code(), Code::corrupt);
    path = segment_file(dir, "short_header", 9 * k_seg, k_sysid, k_seg, 0);
    EXPECT_EQ(check_wal_segment_file(path, name, k_sysid, k_seg).code(), Code::conflict);
    EXPECT_EQ(check_wal_segment_file(dir / "absent", name, k_sysid, k_seg).code(), Code::not_found);
}

}  // namespace
}  // namespace walvault
