// Unit tests for core/repo/wal_tail: the timelines, a timeline's newest segment, a backup's lineage and the
// gaps on it, read from a real PosixStorage, and with few list calls (never the whole wal/ prefix).
#include "core/repo/wal_tail.h"

#include "core/codec/codec.h"
#include "core/repo/layout.h"
#include "core/repo/wal_archive.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace walvault {

bool operator==(const LineageStretch& a, const LineageStretch& b)
{
    return a.timeline == b.timeline && a.first_segno == b.first_segno && a.end_segno == b.end_segno;
}
void PrintTo(const LineageStretch& s, std::ostream* os)
{
    *os << "{timeline " << s.timeline << ", [" << s.first_segno << ", " << s.end_segno << ")}";
}

namespace {

using test::TempDir;
using Strings = std::vector<std::string>;
constexpr uint64_t k_16_mib = 16ULL << 20;

// A PosixStorage that counts list calls and records which ones asked for everything under a prefix.
class CountingStorage final : public Storage {
public:
    explicit CountingStorage(std::string root)
        : m_inner(std::move(root))
    {
    }
    std::string location() const override { return m_inner.location(); }
    std::string location(const std::string& key) const override { return m_inner.location(key); }
    std::string identity() const override { return m_inner.identity(); }
    Status head(const std::string& key, ObjectInfo& out) override { return m_inner.head(key, out); }
    Status create(const std::string& key, std::unique_ptr<Writer>& out) override { return m_inner.create(key, out); }
    Status get(const std::string& key, const ByteSink& sink) override { return m_inner.get(key, sink); }
    Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) override
    {
        return m_inner.get_range(key, offset, len, out);
    }
    using Storage::list;
    Status list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out) override
    {
        ++lists;
        if (range.max_keys == 0)
            unbounded.push_back(prefix);
        return m_inner.list(prefix, range, out);
    }
    Status remove(const std::string& key) override { return m_inner.remove(key); }
    Status sync(const std::string& key) override { return m_inner.sync(key); }

    int lists = 0;
    Strings unbounded;  // prefixes listed without max_keys

private:
    PosixStorage m_inner;
};

class WalTail : public ::testing::Test {
protected:
    // A segment, partial or .backup file (only the key matters here).
    void put(const std::string& name)
    {
        WV_ASSERT_OK(test::put_object(m_storage, wal_object_key(*parse_wal_name(name)), "bytes of " + name));
    }
    void put_history(uint32_t timeline, const std::string& content)
    {
        const std::string path = m_dir / "history";
        test::write_file(path, content);
        Encoder encoder;
        ArchiveReport report;
        WV_ASSERT_OK(archive_wal_file(m_storage, encoder, Compression{}, history_file_name(timeline), path, report));
    }
    void reset_counts()
    {
        m_storage.lists = 0;
        m_storage.unbounded.clear();
    }

    TempDir m_dir;
    CountingStorage m_storage{m_dir / "repo"};
};

TEST_F(WalTail, TimelinesOneListCallEach)
{
    put("000000010000000000000003");
    put("000000010000000100000005");
    put_history(2, "1\t1/5000028\tno recovery target specified\n");
    put("000000020000000100000005");
    put_history(0x1A, "1\t1/5000028\tno recovery target specified\n");  // only its history file so far
    WV_ASSERT_OK(test::put_object(m_storage, "wal/README", "not a WAL object"));
    reset_counts();

    std::vector<uint32_t> timelines{99};
    WV_ASSERT_OK(list_wal_timelines(m_storage, timelines));
    EXPECT_EQ(timelines, (std::vector<uint32_t>{1, 2, 0x1A}));
    EXPECT_EQ(m_storage.lists, 5);  // three timelines, the stray key, the empty end
    EXPECT_EQ(m_storage.unbounded, Strings{});

    TempDir empty;
    PosixStorage none(empty / "repo");
    WV_ASSERT_OK(list_wal_timelines(none, timelines));
    EXPECT_EQ(timelines, std::vector<uint32_t>{});
}

TEST_F(WalTail, NewestSegmentSearchesDirectories)
{
    for (const char* name : {"000000010000000000000003", "0000000100000001000000FE", "000000010000000500000002",
             "000000010000000500000007", "000000010000000500000007.00000028.backup", "000000010000000500000008.partial",
             "000000010000000600000001.partial", "000000020000000700000001"})
        put(name);
    reset_counts();

    std::optional<ArchivedSegment> newest;
    WV_ASSERT_OK(newest_segment(m_storage, 1, k_16_mib, newest));
    ASSERT_TRUE(newest.has_value());
    EXPECT_EQ(newest->name, "000000010000000500000007");
    EXPECT_EQ(newest->segno, 5 * 256 + 7);
    EXPECT_GT(newest->modified, 0);
    // Directory 6 holds only a partial, so directory 5 is listed too; no other prefix is listed whole.
    EXPECT_EQ(m_storage.unbounded, (Strings{"wal/0000000100000006/", "wal/0000000100000005/"}));
    EXPECT_LE(m_storage.lists, 70);

    WV_ASSERT_OK(newest_segment(m_storage, 2, k_16_mib, newest));
    ASSERT_TRUE(newest.has_value());
    EXPECT_EQ(newest->name, "000000020000000700000001");

    WV_ASSERT_OK(newest_segment(m_storage, 3, k_16_mib, newest));
    EXPECT_FALSE(newest.has_value());
}

TEST_F(WalTail, LineageFollowsTheNewestDescendant)
{
    // Backup on timeline 1 from segment 3; timeline 2 left 1 in segment 6; timeline 3 left 1 before the backup.
    for (int seg = 3; seg <= 7; ++seg)
        put(segment_file_name(1, seg, k_16_mib));
    put_history(2, "1\t0/6000100\tno recovery target specified\n");
    for (int seg = 6; seg <= 9; ++seg)
        put(segment_file_name(2, seg, k_16_mib));
    put_history(3, "1\t0/2000000\tbefore 2026-11-23 10:15:00+00\n");
    put(segment_file_name(3, 2, k_16_mib));

    WalLineage lineage;
    WV_ASSERT_OK(find_wal_lineage(m_storage, 1, 0x3000028, k_16_mib, {1, 2, 3}, lineage));
    EXPECT_EQ(lineage.stretches, (std::vector<LineageStretch>{{1, 3, 6}, {2, 6, 10}}));
    ASSERT_TRUE(lineage.newest.has_value());
    EXPECT_EQ(lineage.newest->name, "000000020000000000000009");

    // A backup taken on timeline 2 has a lineage of its own.
    WV_ASSERT_OK(find_wal_lineage(m_storage, 2, 0x7000028, k_16_mib, {1, 2, 3}, lineage));
    EXPECT_EQ(lineage.stretches, (std::vector<LineageStretch>{{2, 7, 10}}));

    // A backup on timeline 1 taken after timeline 2 left it: timeline 1 alone.
    WV_ASSERT_OK(find_wal_lineage(m_storage, 1, 0x7000028, k_16_mib, {1, 2, 3}, lineage));
    EXPECT_EQ(lineage.stretches, (std::vector<LineageStretch>{{1, 7, 8}}));
}

TEST_F(WalTail, StretchGaps)
{
    for (int seg : {3, 4, 6, 9, 254, 255, 256, 257})
        put(segment_file_name(1, seg, k_16_mib));
    put(segment_file_name(1, 5, k_16_mib) + ".partial");
    reset_counts();

    std::vector<WalGap> gaps;
    uint64_t segments = 0;
    WV_ASSERT_OK(find_stretch_gaps(m_storage, LineageStretch{1, 3, 10}, k_16_mib, gaps, segments));
    ASSERT_EQ(gaps.size(), 2U);
    EXPECT_EQ(gaps[0].first_missing, "000000010000000000000005");
    EXPECT_EQ(gaps[0].last_missing, "000000010000000000000005");
    EXPECT_EQ(gaps[0].segments, 1U);
    EXPECT_EQ(gaps[1].first_missing, "000000010000000000000007");
    EXPECT_EQ(gaps[1].last_missing, "000000010000000000000008");
    EXPECT_EQ(gaps[1].segments, 2U);
    EXPECT_EQ(segments, 4U);
    EXPECT_EQ(m_storage.unbounded, Strings{"wal/0000000100000000/"});

    // Segments missing at the end of a stretch are a gap too.
    WV_ASSERT_OK(find_stretch_gaps(m_storage, LineageStretch{1, 9, 12}, k_16_mib, gaps, segments));
    ASSERT_EQ(gaps.size(), 1U);
    EXPECT_EQ(gaps[0].first_missing, "00000001000000000000000A");
    EXPECT_EQ(gaps[0].segments, 2U);

    // Across a directory boundary (255 is the last segment of xlogid 0 for 16 MiB).
    reset_counts();
    WV_ASSERT_OK(find_stretch_gaps(m_storage, LineageStretch{1, 254, 258}, k_16_mib, gaps, segments));
    EXPECT_EQ(gaps.size(), 0U);
    EXPECT_EQ(segments, 4U);
    EXPECT_EQ(m_storage.unbounded, (Strings{"wal/0000000100000000/", "wal/0000000100000001/"}));

    // An empty stretch lists nothing.
    reset_counts();
    WV_ASSERT_OK(find_stretch_gaps(m_storage, LineageStretch{1, 9, 9}, k_16_mib, gaps, segments));
    EXPECT_EQ(m_storage.lists, 0);
}

}  // namespace
}  // namespace walvault
