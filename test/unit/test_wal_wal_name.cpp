// Unit tests for core/wal/wal_name: parsing the four kinds of WAL file names, segment arithmetic for
// several segment sizes, archive order and LSN text, all against fixed names and exact values.
#include "core/wal/wal_name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace walvault {
namespace {

constexpr uint64_t k_16mib = 16ULL * 1024 * 1024;
constexpr uint64_t k_1gib = 1024ULL * 1024 * 1024;
constexpr uint64_t k_1mib = 1024ULL * 1024;

WalName must_parse(const std::string& text)
{
    const auto name = parse_wal_name(text);
    if (!name)
        throw std::runtime_error("not a WAL name: " + text);
    return *name;
}

TEST(ParseWalName, Segment)
{
    const auto n = parse_wal_name("000000010000000A000000FF");
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->kind, WalKind::segment);
    EXPECT_EQ(n->timeline, 1u);
    EXPECT_EQ(n->log, 0xAu);
    EXPECT_EQ(n->seg, 0xFFu);
    EXPECT_EQ(n->backup_offset, 0u);
    EXPECT_EQ(n->text, "000000010000000A000000FF");
}

TEST(ParseWalName, SegmentWithLargestFields)
{
    const auto n = parse_wal_name("FFFFFFFFFFFFFFFFFFFFFFFF");
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->kind, WalKind::segment);
    EXPECT_EQ(n->timeline, 0xFFFFFFFFu);
    EXPECT_EQ(n->log, 0xFFFFFFFFu);
    EXPECT_EQ(n->seg, 0xFFFFFFFFu);
}

TEST(ParseWalName, Partial)
{
    const auto n = parse_wal_name("000000030000000200000010.partial");
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->kind, WalKind::partial);
    EXPECT_EQ(n->timeline, 3u);
    EXPECT_EQ(n->log, 2u);
    EXPECT_EQ(n->seg, 0x10u);
    EXPECT_EQ(n->backup_offset, 0u);
    EXPECT_EQ(n->text, "000000030000000200000010.partial");
}

TEST(ParseWalName, History)
{
    const auto n = parse_wal_name("00000002.history");
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->kind, WalKind::history);
    EXPECT_EQ(n->timeline, 2u);
    EXPECT_EQ(n->log, 0u);
    EXPECT_EQ(n->seg, 0u);
    EXPECT_EQ(n->backup_offset, 0u);
    EXPECT_EQ(n->text, "00000002.history");

    const auto big = parse_wal_name("0000ABCD.history");
    ASSERT_TRUE(big.has_value());
    EXPECT_EQ(big->timeline, 0xABCDu);
}

TEST(ParseWalName, Backup)
{
    const auto n = parse_wal_name("000000010000000000000003.00000028.backup");
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->kind, WalKind::backup);
    EXPECT_EQ(n->timeline, 1u);
    EXPECT_EQ(n->log, 0u);
    EXPECT_EQ(n->seg, 3u);
    EXPECT_EQ(n->backup_offset, 0x28u);
    EXPECT_EQ(n->text, "000000010000000000000003.00000028.backup");
    EXPECT_EQ(n->text.size(), k_max_wal_file_name_len);

    const auto other = parse_wal_name("0000000200000001000000FE.00FFEE10.backup");
    ASSERT_TRUE(other.has_value());
    EXPECT_EQ(other->timeline, 2u);
    EXPECT_EQ(other->log, 1u);
    EXPECT_EQ(other->seg, 0xFEu);
    EXPECT_EQ(other->backup_offset, 0x00FFEE10u);
}

TEST(ParseWalName, Rejections)
{
    const char* const bad[] = {
        "",
        "0",
        "garbage",
        "RECOVERYXLOG",
        "RECOVERYHISTORY",
        "archive_status",
        "000000010000000a000000ff",   // lower-case hex
        "000000010000000A000000fF",   // one lower-case digit
        "00000001000000000000003",    // 23 characters
        "0000000100000000000000033",  // 25 characters
        "00000001000000000000000G",   // not hex
        " 00000001000000000000003",   // space
        "00000001000000000000003 ",
        "000000000000000000000003",  // timeline 0
        "000000010000000000000003.zst",
        "000000010000000000000003.partial.x",
        "000000010000000000000003.partialx",
        "000000010000000000000003.Partial",
        "000000010000000000000003partial.",
        "00000001000000000000003.partial",  // short segment part
        "0000000100000000000000033.partial",
        "000000000000000000000003.partial",  // timeline 0
        "0000000a0000000000000003.partial",
        "00000000.history",   // timeline 0
        "0000002.history",    // 7 digits
        "000000002.history",  // 9 digits
        "0000000a.history",   // lower-case hex
        "0000000G.history",
        "00000002.HISTORY",
        "00000002.history.zst",
        "00000002history",
        ".history",
        "000000010000000000000003.0000028.backup",    // 7-digit offset
        "000000010000000000000003.000000028.backup",  // 9-digit offset
        "000000010000000000000003.0000002a.backup",   // lower-case offset
        "000000010000000000000003_00000028.backup",   // wrong separator
        "000000000000000000000003.00000028.backup",   // timeline 0
        "00000001000000000000000g.00000028.backup",
        "000000010000000000000003.00000028.backupx",
        "000000010000000000000003.00000028.BACKUP",
        "000000010000000000000003.00000028",
    };
    for (const char* name : bad)
        EXPECT_FALSE(parse_wal_name(name).has_value()) << '"' << name << '"';
}

TEST(ValidWalSegmentSize, PowersOfTwoFromOneMibToOneGib)
{
    for (uint64_t size = k_1mib; size <= k_1gib; size *= 2)
        EXPECT_TRUE(valid_wal_segment_size(size)) << size;
    EXPECT_TRUE(valid_wal_segment_size(k_default_wal_segment_size));
    EXPECT_EQ(k_default_wal_segment_size, k_16mib);
    EXPECT_EQ(k_min_wal_segment_size, k_1mib);
    EXPECT_EQ(k_max_wal_segment_size, k_1gib);

    const uint64_t bad[] = {0, 1, 512 * 1024, k_1mib - 1, k_1mib + 1, 3 * k_1mib, 24 * k_1mib, k_16mib + 4096,
        k_1gib - 1, k_1gib + 1, 2 * k_1gib, 1ULL << 40, ~0ULL};
    for (uint64_t size : bad)
        EXPECT_FALSE(valid_wal_segment_size(size)) << size;
}

TEST(SegmentNumber, SixteenMib)
{
    EXPECT_EQ(segment_number(must_parse("000000010000000000000000"), k_16mib), 0u);
    EXPECT_EQ(segment_number(must_parse("000000010000000000000003"), k_16mib), 3u);
    EXPECT_EQ(segment_number(must_parse("0000000100000000000000FF"), k_16mib), 255u);
    EXPECT_EQ(segment_number(must_parse("000000010000000100000000"), k_16mib), 256u);
    EXPECT_EQ(segment_number(must_parse("000000010000000A000000FF"), k_16mib), 0xAu * 256 + 0xFF);
}

TEST(SegmentNumber, PartialAndBackupCountLikeTheirSegment)
{
    // The timeline plays no part.
    EXPECT_EQ(segment_number(must_parse("000000070000000A000000FF"), k_16mib), 2815u);
    EXPECT_EQ(segment_number(must_parse("000000010000000A000000FF.partial"), k_16mib), 2815u);
    EXPECT_EQ(segment_number(must_parse("000000010000000A000000FF.00000028.backup"), k_16mib), 2815u);
}

TEST(SegmentNumber, OneGibAndOneMib)
{
    // 1 GiB: 4 segments per xlogid.
    EXPECT_EQ(segment_number(must_parse("000000010000000000000003"), k_1gib), 3u);
    EXPECT_EQ(segment_number(must_parse("000000010000000100000000"), k_1gib), 4u);
    EXPECT_EQ(segment_number(must_parse("000000010000000200000003"), k_1gib), 11u);
    // 1 MiB: 4096 segments per xlogid.
    EXPECT_EQ(segment_number(must_parse("000000010000000000000FFF"), k_1mib), 4095u);
    EXPECT_EQ(segment_number(must_parse("000000010000000100000000"), k_1mib), 4096u);
    EXPECT_EQ(segment_number(must_parse("0000000100000001000000FF"), k_1mib), 4351u);
}

TEST(SegmentFileName, ExactNames)
{
    EXPECT_EQ(segment_file_name(1, 0, k_16mib), "000000010000000000000000");
    EXPECT_EQ(segment_file_name(1, 3, k_16mib), "000000010000000000000003");
    EXPECT_EQ(segment_file_name(1, 255, k_16mib), "0000000100000000000000FF");
    EXPECT_EQ(segment_file_name(1, 256, k_16mib), "000000010000000100000000");
    EXPECT_EQ(segment_file_name(2, 2815, k_16mib), "000000020000000A000000FF");
    EXPECT_EQ(segment_file_name(0xABCDEF01, 0x1234567890ULL, k_16mib), "ABCDEF011234567800000090");

    EXPECT_EQ(segment_file_name(1, 3, k_1gib), "000000010000000000000003");
    EXPECT_EQ(segment_file_name(1, 4, k_1gib), "000000010000000100000000");
    EXPECT_EQ(segment_file_name(1, 11, k_1gib), "000000010000000200000003");

    EXPECT_EQ(segment_file_name(1, 4095, k_1mib), "000000010000000000000FFF");
    EXPECT_EQ(segment_file_name(1, 4096, k_1mib), "000000010000000100000000");
    EXPECT_EQ(segment_file_name(1, 4351, k_1mib), "0000000100000001000000FF");
}

TEST(SegmentFileName, RoundTripsWithSegmentNumber)
{
    for (uint64_t size : {k_1mib, k_16mib, 64 * k_1mib, k_1gib}) {
        const uint64_t per_id = 0x100000000ULL / size;
        for (uint64_t segno : {uint64_t{0}, uint64_t{1}, per_id - 1, per_id, per_id + 1, 5 * per_id + 2,
                 uint64_t{0xFFFFFFFF} * per_id + per_id - 1}) {
            const std::string text = segment_file_name(9, segno, size);
            ASSERT_EQ(text.size(), k_xlog_fname_len);
            const WalName n = must_parse(text);
            EXPECT_EQ(n.timeline, 9u);
            EXPECT_EQ(segment_number(n, size), segno) << text << " size " << size;
        }
    }
}

TEST(NextSegmentName, SixteenMib)
{
    EXPECT_EQ(next_segment_name(must_parse("000000010000000000000003"), k_16mib), "000000010000000000000004");
    EXPECT_EQ(next_segment_name(must_parse("0000000100000000000000FE"), k_16mib), "0000000100000000000000FF");
    // The xlogid boundary: after segment FF of log 0 comes segment 0 of log 1.
    EXPECT_EQ(next_segment_name(must_parse("0000000100000000000000FF"), k_16mib), "000000010000000100000000");
    EXPECT_EQ(next_segment_name(must_parse("0000000A000000FF000000FF"), k_16mib), "0000000A0000010000000000");
    // A partial or backup name: the segment after the one it belongs to, on the same timeline.
    EXPECT_EQ(next_segment_name(must_parse("0000000100000000000000FF.partial"), k_16mib), "000000010000000100000000");
    EXPECT_EQ(
        next_segment_name(must_parse("000000020000000000000003.00000028.backup"), k_16mib), "000000020000000000000004");
}

TEST(NextSegmentName, OneGibAndOneMib)
{
    EXPECT_EQ(next_segment_name(must_parse("000000010000000000000002"), k_1gib), "000000010000000000000003");
    EXPECT_EQ(next_segment_name(must_parse("000000010000000000000003"), k_1gib), "000000010000000100000000");
    EXPECT_EQ(next_segment_name(must_parse("000000010000000000000FFE"), k_1mib), "000000010000000000000FFF");
    EXPECT_EQ(next_segment_name(must_parse("000000010000000000000FFF"), k_1mib), "000000010000000100000000");
    EXPECT_EQ(next_segment_name(must_parse("0000000100000000000000FF"), k_1mib), "000000010000000000000100");
}

TEST(HistoryFileName, ExactNames)
{
    EXPECT_EQ(history_file_name(1), "00000001.history");
    EXPECT_EQ(history_file_name(2), "00000002.history");
    EXPECT_EQ(history_file_name(0x2A), "0000002A.history");
    EXPECT_EQ(history_file_name(0xFFFFFFFF), "FFFFFFFF.history");
    const auto n = parse_wal_name(history_file_name(0x1F));
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->kind, WalKind::history);
    EXPECT_EQ(n->timeline, 0x1Fu);
}

TEST(ArchiveOrderLess, HistoryFirstThenByName)
{
    EXPECT_TRUE(archive_order_less("00000003.history", "000000010000000000000001"));
    EXPECT_FALSE(archive_order_less("000000010000000000000001", "00000003.history"));
    EXPECT_TRUE(archive_order_less("00000002.history", "00000003.history"));
    EXPECT_TRUE(archive_order_less("000000010000000000000001", "000000010000000000000002"));
    EXPECT_TRUE(archive_order_less("000000010000000000000002", "000000010000000000000002.00000028.backup"));
    EXPECT_FALSE(archive_order_less("000000010000000000000002", "000000010000000000000002"));
    EXPECT_FALSE(archive_order_less("00000002.history", "00000002.history"));
}

TEST(ArchiveOrderLess, SortsShuffledListsToTheExactOrder)
{
    const std::vector<std::string> expected = {
        "00000002.history",
        "00000003.history",
        "0000000A.history",
        "000000010000000000000001",
        "000000010000000000000002",
        "000000010000000000000002.00000028.backup",
        "000000010000000000000003.partial",
        "0000000100000000000000FF",
        "000000010000000100000000",
        "000000020000000000000003",
        "000000020000000000000004",
        "0000000A0000000000000001",
    };
    for (unsigned seed = 1; seed <= 20; ++seed) {
        std::vector<std::string> names = expected;
        std::mt19937 rng(seed);
        std::shuffle(names.begin(), names.end(), rng);
        std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return archive_order_less(a, b); });
        EXPECT_EQ(names, expected) << "seed " << seed;
    }
}

TEST(Lsn, ParsesPostgresForms)
{
    EXPECT_EQ(parse_lsn("0/0"), std::optional<uint64_t>(0));
    EXPECT_EQ(parse_lsn("16/B374D848"), std::optional<uint64_t>(0x16B374D848ULL));
    EXPECT_EQ(parse_lsn("16/b374d848"), std::optional<uint64_t>(0x16B374D848ULL));
    EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF"), std::optional<uint64_t>(~0ULL));
    EXPECT_EQ(parse_lsn("ffffffff/ffffffff"), std::optional<uint64_t>(~0ULL));
    EXPECT_EQ(parse_lsn("0/1"), std::optional<uint64_t>(1));
    EXPECT_EQ(parse_lsn("1/0"), std::optional<uint64_t>(1ULL << 32));
    EXPECT_EQ(parse_lsn("00000001/00000003"), std::optional<uint64_t>((1ULL << 32) | 3));
    EXPECT_EQ(parse_lsn("0/3000028"), std::optional<uint64_t>(0x3000028));
}

TEST(Lsn, Rejections)
{
    const char* const bad[] = {"", "/", "1/", "/1", "123456789/0", "0/123456789", "1/2/3", "G/0", "0/G", " 1/0", "1/0 ",
        "0x1/0", "-1/0", "1/-0", "+1/0", "10", "1\\0", "1//0"};
    for (const char* text : bad)
        EXPECT_FALSE(parse_lsn(text).has_value()) << '"' << text << '"';
}

TEST(Lsn, FormatsUpperCaseWithoutLeadingZeros)
{
    EXPECT_EQ(format_lsn(0), "0/0");
    EXPECT_EQ(format_lsn(0x16B374D848ULL), "16/B374D848");
    EXPECT_EQ(format_lsn(~0ULL), "FFFFFFFF/FFFFFFFF");
    EXPECT_EQ(format_lsn(1ULL << 32), "1/0");
    EXPECT_EQ(format_lsn(0x3000028), "0/3000028");
}

TEST(Lsn, RoundTrips)
{
    for (uint64_t lsn : {uint64_t{0}, uint64_t{1}, uint64_t{0xFFFFFFFF}, uint64_t{1} << 32, uint64_t{0x16B374D848},
             uint64_t{0x8000000000000000}, ~uint64_t{0}}) {
        const auto back = parse_lsn(format_lsn(lsn));
        ASSERT_TRUE(back.has_value()) << format_lsn(lsn);
        EXPECT_EQ(*back, lsn);
    }
    for (const char* text : {"0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "1/0", "A/1"}) {
        const auto lsn = parse_lsn(text);
        ASSERT_TRUE(lsn.has_value()) << text;
        EXPECT_EQ(format_lsn(*lsn), text);
    }
}

}  // namespace
}  // namespace walvault
