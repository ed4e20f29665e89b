// Unit tests for core/repo/verify: a backup's lineage across timeline switches, holes in it (one problem per
// hole, naming every backup that needs it), the history chain, a backup's listing against its manifest, and
// single objects read from a real PosixStorage: intact, with a flipped byte, under another segment's name, of
// another system, against a manifest's sha256.
#include "core/repo/verify.h"

#include "core/codec/codec.h"
#include "core/repo/layout.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::k_mib;
using test::TempDir;

constexpr uint64_t k_seg = 16 * k_mib;
constexpr uint64_t k_sysid = 7000000000000000001ULL;

std::string seg_name(uint32_t timeline, uint64_t segno)
{
    return segment_file_name(timeline, segno, k_seg);
}

std::string seg_key(uint32_t timeline, uint64_t segno)
{
    return wal_object_key(*parse_wal_name(seg_name(timeline, segno)));
}

// A listing of wal/ with segments [first, last] of each timeline, except those in `missing`.
struct Listing {
    std::vector<ObjectInfo> objects;

    Listing& segments(uint32_t timeline, uint64_t first, uint64_t last, std::vector<uint64_t> missing = {})
    {
        for (uint64_t s = first; s <= last; ++s)
            if (std::find(missing.begin(), missing.end(), s) == missing.end())
                objects.push_back({seg_key(timeline, s), 100, 0});
        return *this;
    }
    Listing& history(uint32_t timeline)
    {
        objects.push_back({wal_object_key(*parse_wal_name(history_file_name(timeline))), 50, 0});
        return *this;
    }
    Listing& partial(uint32_t timeline, uint64_t segno)
    {
        objects.push_back({wal_object_key(*parse_wal_name(seg_name(timeline, segno) + ".partial")), 100, 0});
        return *this;
    }
};

BackupManifest backup(const std::string& label, uint32_t timeline, uint64_t start_segno, uint64_t stop_segno)
{
    BackupManifest m;
    m.label = label;
    m.timeline = timeline;
    m.start_lsn = start_segno * k_seg + 40;
    m.stop_lsn = stop_segno * k_seg + 200;
    m.system_identifier = k_sysid;
    m.wal_segment_size = k_seg;
    return m;
}

// Timeline 2 left timeline 1 in segment 8; timeline 3 left timeline 2 in segment 11.
WalInventory forked_inventory(const Listing& listing)
{
    WalInventory inv = inventory_wal(listing.objects, k_seg);
    inv.histories[2] = {{1, 8 * k_seg + 1000, "no recovery target specified"}};
    inv.histories[3] = {{1, 8 * k_seg + 1000, "no recovery target specified"}, {2, 11 * k_seg + 24, "x"}};
    return inv;
}

std::vector<VerifyProblem> lineage_problems(
    const std::vector<BackupManifest>& backups, const WalInventory& wal, bool standalone = false)
{
    std::vector<LineageCheck> ptrs;
    for (const BackupManifest& m : backups)
        ptrs.push_back({&m, standalone});
    std::vector<VerifyProblem> out;
    check_lineages(ptrs, wal, out);
    return out;
}

TEST(VerifyLineage, FollowsEveryTimelineThatLeavesAfterTheStart)
{
    Listing l;
    l.segments(1, 3, 10).segments(2, 8, 12).segments(3, 11, 14).history(2).history(3);
    const WalInventory wal = forked_inventory(l);
    const auto lineage = backup_lineage(backup("b", 1, 4, 5), wal);
    ASSERT_EQ(lineage.size(), 3U);
    EXPECT_EQ(lineage[0].timeline, 1U);
    EXPECT_EQ(lineage[0].first_segno, 4U);
    EXPECT_EQ(lineage[1].timeline, 2U);
    EXPECT_EQ(lineage[1].first_segno, 8U);
    EXPECT_EQ(lineage[2].timeline, 3U);
    EXPECT_EQ(lineage[2].first_segno, 11U);
    // A backup taken on timeline 1 after the fork (the old primary went on) reaches neither branch.
    const auto later = backup_lineage(backup("c", 1, 9, 10), wal);
    ASSERT_EQ(later.size(), 1U);
    EXPECT_EQ(later[0].timeline, 1U);
    // A backup on timeline 2 before timeline 3 left it reaches timeline 3, not timeline 1.
    const auto on2 = backup_lineage(backup("d", 2, 9, 9), wal);
    ASSERT_EQ(on2.size(), 2U);
    EXPECT_EQ(on2[1].timeline, 3U);
    EXPECT_TRUE(lineage_problems({backup("b", 1, 4, 5), backup("c", 1, 9, 10), backup("d", 2, 9, 9)}, wal).empty());
}

TEST(VerifyLineage, AHoleSharedByTwoBackupsIsOneProblemNamingBoth)
{
    Listing l;
    l.segments(1, 3, 20, {6, 7});
    const WalInventory wal = inventory_wal(l.objects, k_seg);
    const auto problems = lineage_problems({backup("b1", 1, 4, 5), backup("b2", 1, 5, 5)}, wal);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].key, seg_key(1, 6));
    EXPECT_EQ(problems[0].problem,
        "WAL segments " + seg_name(1, 6) + " .. " + seg_name(1, 7) +
            " (2 segments) are "
            "missing");
    EXPECT_NE(problems[0].expected.find("backups b1, b2 need timeline 1 from " + seg_name(1, 4)), std::string::npos)
        << problems[0].expected;
    // A hole before a backup's start is not its problem.
    EXPECT_TRUE(lineage_problems({backup("b3", 1, 8, 9)}, wal).empty());
}

TEST(VerifyLineage, AStandaloneBackupNeedsOnlyItsOwnWal)
{
    // What expire leaves of a backup pinned --standalone: its start to its stop segment and the one after.
    Listing l;
    l.segments(1, 4, 6).segments(1, 20, 30).segments(2, 25, 26).history(2);
    WalInventory wal = inventory_wal(l.objects, k_seg);
    wal.histories[2] = {{1, 25 * k_seg + 100, ""}};
    EXPECT_TRUE(lineage_problems({backup("pinned", 1, 4, 5)}, wal, true).empty());
    EXPECT_EQ(lineage_problems({backup("pinned", 1, 4, 5)}, wal, false).size(), 1U);  // 7 .. 19 without the pin
    Listing m;
    m.segments(1, 4, 4);
    const auto problems = lineage_problems({backup("pinned", 1, 4, 5)}, inventory_wal(m.objects, k_seg), true);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].key, seg_key(1, 5));
    EXPECT_NE(problems[0].expected.find("(the backup's stop)"), std::string::npos) << problems[0].expected;
}

TEST(VerifyLineage, MissingStartAndStopSegments)
{
    Listing l;
    l.segments(1, 6, 9);
    const WalInventory wal = inventory_wal(l.objects, k_seg);
    const auto problems = lineage_problems({backup("b", 1, 4, 11)}, wal);
    ASSERT_EQ(problems.size(), 2U);
    EXPECT_EQ(problems[0].key, seg_key(1, 4));
    EXPECT_EQ(problems[0].problem,
        "WAL segments " + seg_name(1, 4) + " .. " + seg_name(1, 5) +
            " (2 segments) are "
            "missing");
    EXPECT_EQ(problems[1].key, seg_key(1, 10));
    EXPECT_NE(problems[1].expected.find("(the backup's stop)"), std::string::npos) << problems[1].expected;
    // A backup with no WAL at all.
    const auto none = lineage_problems({backup("e", 1, 4, 4)}, inventory_wal({}, k_seg));
    ASSERT_EQ(none.size(), 1U);
    EXPECT_EQ(none[0].problem, "WAL segment " + seg_name(1, 4) + " is missing");
}

TEST(VerifyLineage, HolesOnADescendantTimeline)
{
    Listing l;
    l.segments(1, 3, 9).segments(2, 8, 14, {10}).segments(3, 11, 12).history(2).history(3);
    const WalInventory wal = forked_inventory(l);
    const auto problems = lineage_problems({backup("b", 1, 4, 5)}, wal);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].key, seg_key(2, 10));
    EXPECT_NE(problems[0].expected.find("timeline 2 from " + seg_name(2, 8) + " (where the timeline begins)"),
        std::string::npos)
        << problems[0].expected;
    // A branch whose first segment is missing.
    Listing m;
    m.segments(1, 3, 9).segments(2, 9, 10).history(2);
    EXPECT_EQ(lineage_problems({backup("b", 1, 4, 5)}, forked_inventory(m)).at(0).key, seg_key(2, 8));
    // A branch with nothing complete archived yet needs nothing.
    Listing n;
    n.segments(1, 3, 9).history(2).partial(1, 8);
    EXPECT_TRUE(lineage_problems({backup("b", 1, 4, 5)}, forked_inventory(n)).empty());
}

TEST(VerifyHistoryChain, ConsistentChainHasNoProblem)
{
    Listing l;
    l.segments(1, 3, 9).segments(2, 8, 12).segments(3, 11, 14).history(2).history(3);
    std::vector<VerifyProblem> out;
    check_history_chain(forked_inventory(l), out);
    EXPECT_TRUE(out.empty());
}

TEST(VerifyHistoryChain, MissingAndDisagreeingHistories)
{
    Listing l;
    l.segments(1, 3, 9).segments(2, 8, 12).segments(3, 11, 14).segments(4, 20, 21).history(3);
    WalInventory wal = inventory_wal(l.objects, k_seg);
    wal.histories[3] = {{1, 8 * k_seg + 1000, ""}, {2, 11 * k_seg + 24, ""}};
    std::vector<VerifyProblem> out;
    check_history_chain(wal, out);
    ASSERT_EQ(out.size(), 3U);
    EXPECT_EQ(out[0].problem, "timeline 2 has WAL but no history file");
    EXPECT_EQ(out[0].key, "wal/00000002.history.zst");
    EXPECT_EQ(out[1].problem, "timeline 4 has WAL but no history file");
    EXPECT_EQ(out[2].problem, "timeline 3's history names parent timeline 2, which has no history file");

    Listing a;
    a.segments(2, 8, 9).segments(3, 11, 12).history(2).history(3);
    WalInventory disagree = inventory_wal(a.objects, k_seg);
    disagree.histories[2] = {{1, 8 * k_seg + 1000, ""}};
    disagree.histories[3] = {{1, 8 * k_seg + 2000, ""}, {2, 11 * k_seg + 24, ""}};
    out.clear();
    check_history_chain(disagree, out);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].key, "wal/00000003.history.zst");
    EXPECT_EQ(out[0].problem, "timeline 3's history does not begin with its parent timeline 2's history");
}

TEST(VerifyBackupListing, MissingResizedAndUnnamedObjects)
{
    BackupManifest m = backup("b", 1, 4, 5);
    BackupFile one;
    one.path = "base/1/1259";
    one.size = 8192;
    one.stored_size = 300;
    BackupFile parted;
    parted.path = "base/1/16384";
    parted.size = 3 * k_mib;
    parted.parts = {{0, k_mib, "", 400}, {k_mib, k_mib, "", 410}, {2 * k_mib, k_mib, "", 420}};
    m.files = {one, parted};
    const std::string k1 = backup_file_key("b", one.path);
    const std::string k2 = backup_file_key("b", parted.path);
    std::vector<ObjectInfo> objects = {{backup_manifest_key("b"), 10, 0}, {k1, 300, 0},
        {backup_part_key(k2, 0), 400, 0}, {backup_part_key(k2, 2), 999, 0},
        {backup_file_key("b", "base/1/leftover"), 5, 0}, {backup_started_key("b"), 10, 0}};
    std::vector<VerifyProblem> problems;
    std::vector<std::string> notices;
    check_backup_listing(m, objects, problems, notices);
    ASSERT_EQ(problems.size(), 2U);
    EXPECT_EQ(problems[0].key, backup_part_key(k2, 1));
    EXPECT_EQ(problems[0].problem, "backup object is missing");
    EXPECT_EQ(problems[0].expected, "backup.json of backup b lists it (part 1 of file base/1/16384)");
    EXPECT_EQ(problems[1].key, backup_part_key(k2, 2));
    EXPECT_EQ(problems[1].problem, "backup object has 999 bytes");
    ASSERT_EQ(notices.size(), 1U);
    EXPECT_NE(notices[0].find("base/1/leftover"), std::string::npos) << notices[0];
}

// Objects in a real directory repository.
class VerifyObject : public ::testing::Test {
protected:
    // The bytes of segment `segno` of timeline 1 of system sysid: a long page header, then random bytes.
    static std::vector<uint8_t> segment_bytes(uint64_t segno, uint64_t sysid = k_sysid, uint64_t segsize = k_mib)
    {
        std::vector<uint8_t> b = test::random_bytes(segsize, segno);
        const uint16_t magic = 0xD110, info = 0x0002;
        const uint32_t tli = 1, seg = static_cast<uint32_t>(segsize), blck = 8192;
        const uint64_t addr = segno * segsize;
        std::memcpy(&b[0], &magic, 2);
        std::memcpy(&b[2], &info, 2);
        std::memcpy(&b[4], &tli, 4);
        std::memcpy(&b[8], &addr, 8);
        std::memcpy(&b[24], &sysid, 8);
        std::memcpy(&b[32], &seg, 4);
        std::memcpy(&b[36], &blck, 4);
        return b;
    }

    // Stores data as an object named name under key; its stored size.
    uint64_t put(const std::string& key, const std::string& name, const std::vector<uint8_t>& data)
    {
        std::vector<uint8_t> object;
        Encoder encoder;
        EncodeResult result;
        EXPECT_TRUE(encoder.begin(Compression{}, test::vector_sink(object), data.size()).is_ok());
        EXPECT_TRUE(encoder.update(data.data(), data.size()).is_ok());
        EXPECT_TRUE(encoder.finish(name, result).is_ok());
        m_sha256 = result.sha256;
        std::unique_ptr<Writer> w;
        EXPECT_TRUE(m_storage.create(key, w).is_ok());
        EXPECT_TRUE(w->write(object.data(), object.size()).is_ok());
        EXPECT_TRUE(w->commit().is_ok());
        return object.size();
    }

    std::vector<VerifyProblem> verify_segment(const std::string& key, const std::string& name)
    {
        m_name = *parse_wal_name(name);
        ObjectCheck c;
        c.key = key;
        c.name = name;
        c.length = k_mib;
        c.wal_name = &m_name;
        c.system_identifier = k_sysid;
        c.segment_size = k_mib;
        std::vector<VerifyProblem> out;
        verify_object(m_decoder, m_storage, c, out);
        return out;
    }

    TempDir m_dir;
    PosixStorage m_storage{m_dir / "repo"};
    Decoder m_decoder;
    WalName m_name;
    std::string m_sha256;
};

std::string name_1mib(uint64_t segno)
{
    return segment_file_name(1, segno, k_mib);
}
std::string key_1mib(uint64_t segno)
{
    return wal_object_key(*parse_wal_name(name_1mib(segno)));
}

TEST_F(VerifyObject, IntactSegmentHasNoProblem)
{
    put(key_1mib(5), name_1mib(5), segment_bytes(5));
    EXPECT_TRUE(verify_segment(key_1mib(5), name_1mib(5)).empty());
}

TEST_F(VerifyObject, AFlippedByteIsFound)
{
    put(key_1mib(5), name_1mib(5), segment_bytes(5));
    const std::string path = m_dir / ("repo/" + key_1mib(5));
    std::vector<uint8_t> stored = test::read_file(path);
    stored[stored.size() / 2] ^= 0x01;
    test::write_file(path, stored);
    const auto problems = verify_segment(key_1mib(5), name_1mib(5));
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].key, key_1mib(5));
    EXPECT_NE(problems[0].problem.find(key_1mib(5)), std::string::npos) << problems[0].problem;
}

TEST_F(VerifyObject, ASegmentUnderAnotherNameOrOfAnotherSystem)
{
    // Segment 5's object stored under segment 6's key: the trailer's name and the page address both say so.
    put(key_1mib(6), name_1mib(5), segment_bytes(5));
    auto problems = verify_segment(key_1mib(6), name_1mib(6));
    ASSERT_EQ(problems.size(), 2U);
    EXPECT_EQ(problems[0].problem, "object holds \"" + name_1mib(5) + "\"");
    EXPECT_NE(problems[1].problem.find("starts at 0/500000, not at 0/600000"), std::string::npos)
        << problems[1].problem;
    // The right name, another system.
    put(key_1mib(7), name_1mib(7), segment_bytes(7, 42));
    problems = verify_segment(key_1mib(7), name_1mib(7));
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].problem, "segment belongs to database system 42, not to 7000000000000000001");
    // A short segment.
    std::vector<uint8_t> shorter = segment_bytes(8);
    shorter.resize(k_mib / 2);
    put(key_1mib(8), name_1mib(8), shorter);
    problems = verify_segment(key_1mib(8), name_1mib(8));
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].problem, "object holds 524288 bytes");
    EXPECT_EQ(problems[0].expected, "1048576 bytes");
}

TEST_F(VerifyObject, ABackupObjectAgainstItsManifest)
{
    const std::vector<uint8_t> data = test::compressible_bytes(100000);
    const std::string key = backup_file_key("b", "base/1/1259");
    const uint64_t stored = put(key, "base/1/1259", data);
    ObjectCheck c;
    c.key = key;
    c.stored_size = stored;
    c.name = "base/1/1259";
    c.length = data.size();
    c.sha256 = m_sha256;
    std::vector<VerifyProblem> out;
    verify_object(m_decoder, m_storage, c, out);
    EXPECT_TRUE(out.empty());
    c.sha256 = std::string(64, '0');
    c.length = data.size() + 1;
    verify_object(m_decoder, m_storage, c, out);
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0].problem, "object holds 100000 bytes");
    EXPECT_EQ(out[1].problem, "object's sha256 is " + m_sha256);
    // Gone while verify ran.
    out.clear();
    c.key = backup_file_key("b", "base/1/gone");
    verify_object(m_decoder, m_storage, c, out);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].problem, "object vanished while verify ran");
}

}  // namespace
}  // namespace walvault
