// Unit tests for core/repo/wal_catalog: summaries of fixed wal/ listings (timelines, gaps, partials, history,
// foreign keys, 1 MiB segments), and telling a hole from the end of the archive in a real PosixStorage.
#include "core/repo/wal_catalog.h"

#include "core/codec/codec.h"
#include "core/repo/layout.h"
#include "core/repo/wal_archive.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace walvault {

bool operator==(const WalGap& a, const WalGap& b)
{
    return a.first_missing == b.first_missing && a.last_missing == b.last_missing && a.segments == b.segments;
}
void PrintTo(const WalGap& g, std::ostream* os)
{
    *os << "{" << g.first_missing << ".." << g.last_missing << ", " << g.segments << "}";
}
bool operator==(const TimelineSummary& a, const TimelineSummary& b)
{
    return a.timeline == b.timeline && a.has_history == b.has_history && a.first_segment == b.first_segment &&
        a.last_segment == b.last_segment && a.segments == b.segments && a.stored_bytes == b.stored_bytes &&
        a.partials == b.partials && a.gaps == b.gaps;
}
void PrintTo(const TimelineSummary& t, std::ostream* os)
{
    *os << "{timeline " << t.timeline << ", history " << t.has_history << ", [" << t.first_segment << " .. "
        << t.last_segment << "], " << t.segments << " segments, " << t.stored_bytes << " bytes, partials";
    for (const std::string& p : t.partials)
        *os << " " << p;
    *os << ", gaps";
    for (const WalGap& g : t.gaps) {
        *os << " ";
        PrintTo(g, os);
    }
    *os << "}";
}

namespace {

using test::k_mib;
using test::TempDir;

constexpr uint64_t k_16_mib = 16 * k_mib;

// The key of a WAL file name, as the archiver writes it.
std::string key_of(const std::string& text)
{
    const std::optional<WalName> name = parse_wal_name(text);
    if (!name)
        throw std::runtime_error("not a WAL name: " + text);
    return wal_object_key(*name);
}

// ---------------------------------------------------------------------------------------------------------
// summarize_wal

TEST(SummarizeWal, EmptyListing)
{
    EXPECT_TRUE(summarize_wal({}, k_16_mib).empty());
}

TEST(SummarizeWal, TimelinesGapsPartialsHistoryAndForeignKeys)
{
    // A listing in key order, as Storage::list returns it.
    const std::vector<ObjectInfo> listing = {
        {"backups/20250101T000000/manifest.json", 999}, {"identity.json", 120}, {"wal/00000001.txt", 5},
        {"wal/00000002.history.zst", 41}, {"wal/00000003.history.zst", 42},
        {"wal/0000000100000000/00000001000000000000000b.zst", 100},  // lower-case hex: not PostgreSQL's
        {"wal/0000000100000000/000000010000000000000001.zst", 100},
        {"wal/0000000100000000/000000010000000000000002.zst", 100},
        {"wal/0000000100000000/000000010000000000000003.00000028.backup.zst", 7},
        {"wal/0000000100000000/000000010000000000000003.zst", 100},
        {"wal/0000000100000000/000000010000000000000004", 100},  // no .zst
        {"wal/0000000100000000/000000010000000000000005.zst", 100},
        {"wal/0000000100000000/000000010000000000000009.zst", 100},
        {"wal/0000000100000000/00000001000000000000000A.partial.zst", 60}, {"wal/0000000100000000/notes.txt", 3},
        {"wal/0000000100000001/000000010000000000000006.zst", 100},  // in the wrong directory
        {"wal/000000010000000000000007.zst", 100},                   // a segment outside its directory
        {"wal/0000000200000000/00000002000000000000000A.zst", 100},
        {"wal/0000000200000000/00000002000000000000000B.zst", 100},
        {"wal/0000000200000000/00000002000000000000000C.history.zst", 100},  // not a name PostgreSQL writes
    };

    TimelineSummary one;
    one.timeline = 1;
    one.has_history = false;
    one.first_segment = "000000010000000000000001";
    one.last_segment = "000000010000000000000009";
    one.segments = 5;
    one.stored_bytes = 5 * 100 + 7 + 60;  // segments, the .backup file and the partial
    one.partials = {"00000001000000000000000A.partial"};
    one.gaps = {{"000000010000000000000004", "000000010000000000000004", 1},
        {"000000010000000000000006", "000000010000000000000008", 3}};

    TimelineSummary two;
    two.timeline = 2;
    two.has_history = true;
    two.first_segment = "00000002000000000000000A";
    two.last_segment = "00000002000000000000000B";
    two.segments = 2;
    two.stored_bytes = 41 + 2 * 100;

    TimelineSummary three;  // only its history file so far
    three.timeline = 3;
    three.has_history = true;
    three.stored_bytes = 42;

    EXPECT_EQ(summarize_wal(listing, k_16_mib), (std::vector<TimelineSummary>{one, two, three}));
}

TEST(SummarizeWal, OrderOfTheListingDoesNotMatter)
{
    const std::vector<ObjectInfo> listing = {
        {key_of("00000003000000000000000F"), 10},
        {key_of("000000010000000000000003"), 10},
        {key_of("00000003000000000000000C"), 10},
        {key_of("000000010000000000000001"), 10},
        {key_of("00000003000000000000000D.partial"), 4},
        {key_of("00000003000000000000000B.partial"), 4},
    };
    const std::vector<TimelineSummary> summary = summarize_wal(listing, k_16_mib);
    ASSERT_EQ(summary.size(), 2u);
    EXPECT_EQ(summary[0].timeline, 1u);
    EXPECT_EQ(summary[0].first_segment, "000000010000000000000001");
    EXPECT_EQ(summary[0].last_segment, "000000010000000000000003");
    EXPECT_EQ(summary[0].gaps, (std::vector<WalGap>{{"000000010000000000000002", "000000010000000000000002", 1}}));
    EXPECT_EQ(summary[1].timeline, 3u);
    EXPECT_EQ(summary[1].first_segment, "00000003000000000000000C");
    EXPECT_EQ(summary[1].last_segment, "00000003000000000000000F");
    EXPECT_EQ(summary[1].segments, 2u);
    EXPECT_EQ(summary[1].stored_bytes, 28u);
    EXPECT_EQ(summary[1].partials,
        (std::vector<std::string>{"00000003000000000000000B.partial", "00000003000000000000000D.partial"}));
    EXPECT_EQ(summary[1].gaps, (std::vector<WalGap>{{"00000003000000000000000D", "00000003000000000000000E", 2}}));
}

TEST(SummarizeWal, SixteenMibSegmentsAcrossALogBoundary)
{
    // 0000000100000000000000FF is followed by 000000010000000100000000.
    const std::vector<ObjectInfo> contiguous = {
        {key_of("0000000100000000000000FE"), 1},
        {key_of("0000000100000000000000FF"), 1},
        {key_of("000000010000000100000000"), 1},
    };
    std::vector<TimelineSummary> summary = summarize_wal(contiguous, k_16_mib);
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0].segments, 3u);
    EXPECT_EQ(summary[0].first_segment, "0000000100000000000000FE");
    EXPECT_EQ(summary[0].last_segment, "000000010000000100000000");
    EXPECT_TRUE(summary[0].gaps.empty());

    const std::vector<ObjectInfo> holed = {
        {key_of("0000000100000000000000FE"), 1},
        {key_of("000000010000000100000001"), 1},
    };
    summary = summarize_wal(holed, k_16_mib);
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0].gaps, (std::vector<WalGap>{{"0000000100000000000000FF", "000000010000000100000000", 2}}));
}

TEST(SummarizeWal, OneMibSegmentsAcrossALogBoundary)
{
    // With 1 MiB segments a log holds 4096 of them: ...00000FFF is followed by 0000000100000001 00000000.
    const std::vector<ObjectInfo> listing = {
        {key_of("000000010000000000000FFC"), 1},
        {key_of("000000010000000000000FFD"), 1},
        {key_of("000000010000000100000001"), 1},
        {key_of("000000010000000100000002"), 1},
    };
    const std::vector<TimelineSummary> summary = summarize_wal(listing, k_mib);
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0].timeline, 1u);
    EXPECT_EQ(summary[0].segments, 4u);
    EXPECT_EQ(summary[0].first_segment, "000000010000000000000FFC");
    EXPECT_EQ(summary[0].last_segment, "000000010000000100000002");
    EXPECT_EQ(summary[0].stored_bytes, 4u);
    EXPECT_EQ(summary[0].gaps, (std::vector<WalGap>{{"000000010000000000000FFE", "000000010000000100000000", 3}}));
}

TEST(SummarizeWal, SegmentNamesOutOfRangeForTheSizeAreIgnored)
{
    // 000000010000000000000FFD is a 1 MiB segment; with 16 MiB segments the seg part stops at FF.
    // 000000010000000000001000 is no segment of either size.
    const std::vector<ObjectInfo> listing = {
        {key_of("0000000100000000000000FE"), 1},
        {key_of("000000010000000000000FFD"), 1},
        {key_of("000000010000000000001000"), 1},
    };
    std::vector<TimelineSummary> summary = summarize_wal(listing, k_16_mib);
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0].segments, 1u);
    EXPECT_EQ(summary[0].first_segment, "0000000100000000000000FE");
    EXPECT_EQ(summary[0].last_segment, "0000000100000000000000FE");
    EXPECT_EQ(summary[0].stored_bytes, 1u);

    summary = summarize_wal(listing, k_mib);
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(summary[0].segments, 2u);
    EXPECT_EQ(summary[0].last_segment, "000000010000000000000FFD");
    EXPECT_EQ(summary[0].gaps, (std::vector<WalGap>{{"0000000100000000000000FF", "000000010000000000000FFC", 3838}}));
}

TEST(SummarizeWal, InvalidSegmentSizeGivesNothing)
{
    const std::vector<ObjectInfo> listing = {{key_of("000000010000000000000001"), 1}};
    EXPECT_TRUE(summarize_wal(listing, 0).empty());
    EXPECT_TRUE(summarize_wal(listing, 3 * k_mib).empty());
}

// ---------------------------------------------------------------------------------------------------------
// find_later_segment

// A PosixStorage that records the prefixes it is asked to list and the keys it is asked to read, and can
// be told to fail list().
class RecordingStorage final : public Storage {
public:
    explicit RecordingStorage(std::string root)
        : m_inner(std::move(root))
    {
    }

    std::string location() const override { return m_inner.location(); }
    std::string location(const std::string& key) const override { return m_inner.location(key); }
    std::string identity() const override { return m_inner.identity(); }
    Status head(const std::string& key, ObjectInfo& out) override { return m_inner.head(key, out); }
    Status create(const std::string& key, std::unique_ptr<Writer>& out) override { return m_inner.create(key, out); }
    Status get(const std::string& key, const ByteSink& sink) override
    {
        read.push_back(key);
        return m_inner.get(key, sink);
    }
    Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) override
    {
        read.push_back(key);
        return m_inner.get_range(key, offset, len, out);
    }
    using Storage::list;
    Status list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out) override
    {
        listed.push_back(prefix);
        if (fail_list)
            return Status::error(Code::io_error, "could not open directory \"" + prefix + "\": Input/output error");
        return m_inner.list(prefix, range, out);
    }
    Status remove(const std::string& key) override { return m_inner.remove(key); }
    Status sync(const std::string& key) override { return m_inner.sync(key); }

    std::vector<std::string> listed;
    std::vector<std::string> read;
    bool fail_list = false;

private:
    PosixStorage m_inner;
};

class FindLaterSegment : public ::testing::Test {
protected:
    // Archives a segment, partial or backup file name (any bytes will do: only the key matters).
    void put(const std::string& text)
    {
        std::unique_ptr<Writer> w;
        WV_ASSERT_OK(m_storage.create(key_of(text), w));
        const std::vector<uint8_t> bytes = test::to_bytes("bytes of " + text);
        WV_ASSERT_OK(w->write(bytes.data(), bytes.size()));
        WV_ASSERT_OK(w->commit());
    }

    // Archives timeline `timeline`'s history file with this content, as the archive module does.
    void put_history(uint32_t timeline, const std::string& content)
    {
        const std::string path = m_dir / "history";
        test::write_file(path, content);
        Encoder encoder;
        ArchiveReport report;
        WV_ASSERT_OK(archive_wal_file(m_storage, encoder, Compression{}, history_file_name(timeline), path, report));
    }

    // find_later_segment for a missing name; the recorded calls start afresh.
    std::optional<std::string> later_than(const std::string& text, uint64_t segment_size = k_16_mib)
    {
        m_storage.listed.clear();
        m_storage.read.clear();
        const std::optional<WalName> name = parse_wal_name(text);
        EXPECT_TRUE(name.has_value()) << text;
        std::optional<std::string> later = "left over";  // reset by the call
        const Status s = find_later_segment(m_storage, *name, segment_size, later);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return later;
    }

    Status later_status(const std::string& text)
    {
        const std::optional<WalName> name = parse_wal_name(text);
        EXPECT_TRUE(name.has_value()) << text;
        std::optional<std::string> later = "left over";
        const Status s = find_later_segment(m_storage, *name, k_16_mib, later);
        EXPECT_EQ(later, std::nullopt);
        return s;
    }

    std::vector<std::string> listed() const { return m_storage.listed; }
    std::vector<std::string> read() const { return m_storage.read; }

    TempDir m_dir;
    RecordingStorage m_storage{m_dir / "repo"};
};

using Strings = std::vector<std::string>;

TEST_F(FindLaterSegment, HoleInTheMiddle)
{
    for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
             "000000010000000000000006", "000000010000000000000007"})
        put(name);

    EXPECT_EQ(later_than("000000010000000000000004"), "000000010000000000000006");
    // What follows the missing key on its timeline, then the timeline's first segment: two lists, no read.
    EXPECT_EQ(listed(), (Strings{"wal/00000001", "wal/00000001"}));
    EXPECT_EQ(read(), Strings{});

    EXPECT_EQ(later_than("000000010000000000000005"), "000000010000000000000006");
}

TEST_F(FindLaterSegment, EndOfTheArchive)
{
    for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003"})
        put(name);

    EXPECT_EQ(later_than("000000010000000000000004"), std::nullopt);
    // Nothing follows on timeline 1, and there is no timeline 2 (PostgreSQL probes the same history file).
    EXPECT_EQ(listed(), Strings{"wal/00000001"});
    EXPECT_EQ(read(), (Strings{"wal/00000002.history.zst"}));

    EXPECT_EQ(later_than("0000000100000000000000FF"), std::nullopt);
    EXPECT_EQ(later_than("000000010000000500000000"), std::nullopt);
}

TEST_F(FindLaterSegment, LaterTimelinesThatLeftBeforeDoNotCount)
{
    // Timeline 1 ends in segment 3 (its partial), timeline 2 goes on from there: asking for timeline 1's
    // segment 3 or 4 is the end of timeline 1, whatever timeline 2 holds.
    put_history(2, "1\t0/3000028\tno recovery target specified\n");
    for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003.partial",
             "000000020000000000000003", "000000020000000000000004", "000000020000000000000005"})
        put(name);

    EXPECT_EQ(later_than("000000010000000000000003"), std::nullopt);
    EXPECT_EQ(later_than("000000010000000000000004"), std::nullopt);
    EXPECT_EQ(later_than("000000020000000000000006"), std::nullopt);
    EXPECT_EQ(read(), (Strings{"wal/00000003.history.zst"}));
}

TEST_F(FindLaterSegment, NewerTimelineProbe)
{
    // Timeline 2 began in segment 0000000100000003 00000005; timeline 1 goes on to 00000009.
    put_history(2, "1\t3/5000000\tno recovery target specified\n");
    for (const char* name : {"000000010000000300000001", "000000010000000300000002", "000000010000000300000003",
             "000000010000000300000004", "000000010000000300000005", "000000010000000300000009",
             "000000020000000300000005", "000000020000000300000006"})
        put(name);

    // A segment from before timeline 2 began, asked for on timeline 2: not a hole, even though timeline 1
    // has that segment and timeline 2 has later ones.
    EXPECT_EQ(later_than("000000020000000300000004"), std::nullopt);
    EXPECT_EQ(later_than("000000020000000300000001"), std::nullopt);

    // On timeline 1, 6 to 8 are a hole.
    EXPECT_EQ(later_than("000000010000000300000007"), "000000010000000300000009");
}

TEST_F(FindLaterSegment, HoleAcrossADirectoryBoundary)
{
    for (const char* name : {"0000000100000000000000FD", "0000000100000000000000FE", "000000010000000100000001",
             "000000010000000100000002"})
        put(name);

    // The earlier segment is in the same directory, the later one in the next.
    EXPECT_EQ(later_than("0000000100000000000000FF"), "000000010000000100000001");
    // The later segment is in the same directory, the earlier one in the previous.
    EXPECT_EQ(later_than("000000010000000100000000"), "000000010000000100000001");
}

TEST_F(FindLaterSegment, HoleOfWholeDirectories)
{
    // Nothing at all was archived for logs 1 to 3 of timeline 1: wider than any one directory.
    for (const char* name : {"0000000100000000000000FD", "0000000100000000000000FE", "000000010000000400000000",
             "000000010000000400000001"})
        put(name);

    EXPECT_EQ(later_than("0000000100000000000000FF"), "000000010000000400000000");
    EXPECT_EQ(later_than("000000010000000200000005"), "000000010000000400000000");
    EXPECT_EQ(later_than("0000000100000003000000FF"), "000000010000000400000000");
    EXPECT_EQ(later_than("000000010000000400000002"), std::nullopt);
}

TEST_F(FindLaterSegment, HoleAcrossADirectoryBoundaryWithOneMibSegments)
{
    for (const char* name : {"000000010000000000000FFD", "000000010000000000000FFE", "000000010000000100000001"})
        put(name);

    EXPECT_EQ(later_than("000000010000000000000FFF", k_mib), "000000010000000100000001");
    EXPECT_EQ(later_than("000000010000000100000000", k_mib), "000000010000000100000001");
    EXPECT_EQ(later_than("000000010000000100000002", k_mib), std::nullopt);
}

TEST_F(FindLaterSegment, HoleBeforeADescendantTimeline)
{
    // Timeline 1 archived up to 2; 3 to 5 never reached the archive; a standby promoted in segment 6
    // made timeline 2, which archived on. Recovery to timeline 2 needs timeline 1's 3 to 5: a hole.
    put_history(2, "1\t0/6000060\tno recovery target specified\n");
    for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000020000000000000006",
             "000000020000000000000007"})
        put(name);

    EXPECT_EQ(later_than("000000010000000000000003"), "000000020000000000000006");
    EXPECT_EQ(later_than("000000010000000000000005"), "000000020000000000000006");
    // Segment 6 of timeline 1 is where timeline 2 left it: timeline 1's copy is partial, not needed whole.
    EXPECT_EQ(later_than("000000010000000000000006"), std::nullopt);
    EXPECT_EQ(later_than("000000010000000000000007"), std::nullopt);
}

TEST_F(FindLaterSegment, HoleBeforeADescendantOfADescendant)
{
    // Timeline 3 descends from 1 through 2, and only timeline 3 has archived segments after the hole.
    put_history(2, "1\t0/6000060\tno recovery target specified\n");
    put_history(3, "1\t0/6000060\tno recovery target specified\n2\t0/8000028\tno recovery target specified\n");
    for (const char* name : {"000000010000000000000001", "000000030000000000000008", "000000030000000000000009"})
        put(name);

    EXPECT_EQ(later_than("000000010000000000000002"), "000000030000000000000008");
    EXPECT_EQ(read(), (Strings{"wal/00000002.history.zst", "wal/00000003.history.zst"}));
    // Timeline 2's segment 7: timeline 3 left timeline 2 in segment 8. Timeline 2 has no segment before 7
    // archived, so 7 is taken for a probe from before it began, not a hole.
    EXPECT_EQ(later_than("000000020000000000000007"), std::nullopt);
}

TEST_F(FindLaterSegment, ADescendantWithNothingArchivedIsTheEnd)
{
    put_history(2, "1\t0/6000060\tno recovery target specified\n");
    for (const char* name : {"000000010000000000000001", "000000010000000000000002"})
        put(name);
    EXPECT_EQ(later_than("000000010000000000000003"), std::nullopt);
}

TEST_F(FindLaterSegment, AnUnreadableHistoryFileIsAnError)
{
    put("000000010000000000000001");
    put("00000002.history");  // "bytes of 00000002.history": not an object the codec can decode
    Status s = later_status("000000010000000000000002");
    EXPECT_EQ(s.code(), Code::corrupt) << s.message();
    EXPECT_NE(s.message().find("could not read \"" + m_storage.location("wal/00000002.history.zst") + "\""),
        std::string::npos)
        << s.message();

    WV_ASSERT_OK(m_storage.remove("wal/00000002.history.zst"));
    put_history(2, "not a history file\n");
    s = later_status("000000010000000000000002");
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_NE(s.message().find("syntax error in history file \"00000002.history\", line 1"), std::string::npos)
        << s.message();
}

TEST_F(FindLaterSegment, EmptyOrAbsentRepository)
{
    EXPECT_EQ(later_than("000000010000000000000001"), std::nullopt);
    put("000000010000000000000001");
    EXPECT_EQ(later_than("000000010000000000000002"), std::nullopt);
}

TEST_F(FindLaterSegment, APartialShowsTheTimelineWentOn)
{
    // A promoted standby archived timeline 1's last segment as a partial, but 4 and 5 never reached the
    // archive: recovery along timeline 1 cannot get past 3.
    put_history(2, "1\t0/6000060\tno recovery target specified\n");
    for (const char* name : {"000000010000000000000002", "000000010000000000000003", "000000010000000000000006.partial",
             "000000020000000000000006"})
        put(name);

    EXPECT_EQ(later_than("000000010000000000000004"), "000000010000000000000006.partial");
    // The partial's own segment is the end of the timeline.
    EXPECT_EQ(later_than("000000010000000000000006"), std::nullopt);
}

TEST_F(FindLaterSegment, TheNearestLaterSegment)
{
    for (const char* name : {"000000010000000000000001", "000000010000000000000008", "000000010000000000000005",
             "000000010000000000000005.partial", "000000010000000000000006"})
        put(name);
    // At equal numbers the full segment is the name to report (its partial sorts first).
    EXPECT_EQ(later_than("000000010000000000000003"), "000000010000000000000005");
}

TEST_F(FindLaterSegment, BackupHistoryFilesDoNotCount)
{
    for (const char* name :
        {"000000010000000000000001", "000000010000000000000002", "000000010000000000000004.00000028.backup"})
        put(name);
    EXPECT_EQ(later_than("000000010000000000000003"), std::nullopt);
}

TEST_F(FindLaterSegment, NotASegmentNeedsNoListing)
{
    put("000000010000000000000001");
    put("000000010000000000000003");
    EXPECT_EQ(later_than("00000002.history"), std::nullopt);
    EXPECT_TRUE(listed().empty());
    EXPECT_EQ(later_than("000000010000000000000002.partial"), std::nullopt);
    EXPECT_TRUE(listed().empty());
}

TEST_F(FindLaterSegment, InvalidSegmentSize)
{
    const std::optional<WalName> name = parse_wal_name("000000010000000000000002");
    ASSERT_TRUE(name.has_value());
    std::optional<std::string> later = "left over";
    const Status s = find_later_segment(m_storage, *name, 3 * k_mib, later);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "invalid WAL segment size 3145728 bytes");
    EXPECT_EQ(s.hint(), "The size must be a power of two between 1 MiB and 1 GiB.");
    EXPECT_EQ(later, std::nullopt);
    EXPECT_TRUE(listed().empty());
}

TEST_F(FindLaterSegment, ListFailureIsReturned)
{
    put("000000010000000000000001");
    m_storage.fail_list = true;
    const Status s = later_status("000000010000000000000002");
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "could not open directory \"wal/00000001\": Input/output error");
}

// ---- timeline forks ----------------------------------------------------------------------------------------

class TimelineForks : public FindLaterSegment {
protected:
    std::vector<TimelineFork> forks()
    {
        std::vector<ObjectInfo> wal;
        EXPECT_TRUE(m_storage.list(k_wal_prefix, wal).is_ok());
        std::vector<TimelineFork> out;
        const Status s = read_timeline_forks(m_storage, summarize_wal(wal, k_16_mib), k_16_mib, out);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return out;
    }
};

// A failover at the end of the archive: the parent stops in the segment that holds the branch point.
TEST_F(TimelineForks, PromotionAtTheEndOfTheArchiveIsNoLiveFork)
{
    for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003"})
        put(name);
    put("000000010000000000000003.partial");
    put_history(2, "1\t0/3000060\tno recovery target specified\n");
    put("000000020000000000000003");
    put("000000020000000000000004");
    const std::vector<TimelineFork> f = forks();
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].timeline, 2u);
    EXPECT_EQ(f[0].parent, 1u);
    EXPECT_EQ(f[0].fork_lsn, 0x3000060u);
    EXPECT_FALSE(f[0].parent_continues);
    EXPECT_EQ(f[0].last_segment, "000000020000000000000004");
    EXPECT_TRUE(live_forks_reached(f, 1, 0x1000028).empty());
}

// A branch point at a segment boundary: the parent's segment before it is whole and shared.
TEST_F(TimelineForks, BranchAtASegmentBoundary)
{
    for (const char* name : {"000000010000000000000001", "000000010000000000000002"})
        put(name);
    put_history(2, "1\t0/3000000\tno recovery target specified\n");
    put("000000020000000000000003");
    EXPECT_FALSE(forks().at(0).parent_continues);
    put("000000010000000000000003");  // the parent went on past the boundary
    EXPECT_TRUE(forks().at(0).parent_continues);
}

// A copy promoted beside a primary that keeps archiving: both branches go on.
TEST_F(TimelineForks, PrimaryThatKeptWritingIsALiveFork)
{
    for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
             "000000010000000000000004", "000000010000000000000005"})
        put(name);
    put_history(2, "1\t0/3000060\tno recovery target specified\n");
    put("000000020000000000000003");
    const std::vector<TimelineFork> f = forks();
    ASSERT_EQ(f.size(), 1u);
    EXPECT_TRUE(f[0].parent_continues);
    EXPECT_EQ(f[0].parent_last_segment, "000000010000000000000005");
    // A backup on timeline 1 that began before the branch point meets the fork; one that began after it
    // cannot follow timeline 2 at all (PostgreSQL refuses such a switch), and one on timeline 2 meets none.
    ASSERT_EQ(live_forks_reached(f, 1, 0x1000028).size(), 1u);
    EXPECT_EQ(live_forks_reached(f, 1, 0x1000028)[0].timeline, 2u);
    EXPECT_TRUE(live_forks_reached(f, 1, 0x4000028).empty());
    EXPECT_TRUE(live_forks_reached(f, 2, 0x3000100).empty());
}

// Forks further down the lineage count too; a sibling branch of the backup's own timeline does not.
TEST_F(TimelineForks, ForksDownTheLineage)
{
    for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003"})
        put(name);
    put_history(2, "1\t0/3000060\tno recovery target specified\n");
    for (const char* name : {"000000020000000000000003", "000000020000000000000004", "000000020000000000000005"})
        put(name);
    put_history(3, "1\t0/3000060\tno recovery target specified\n2\t0/4000100\tbefore 2026-12-06 10:00:00+00\n");
    put("000000030000000000000004");
    put_history(4, "1\t0/2000100\tbefore 2026-12-06 09:00:00+00\n");
    put("000000040000000000000002");
    const std::vector<TimelineFork> f = forks();
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[1].timeline, 3u);
    EXPECT_EQ(f[1].parent, 2u);
    EXPECT_TRUE(f[1].parent_continues);  // timeline 2 went on to segment 5 after timeline 3 left it in 4
    EXPECT_TRUE(f[2].parent_continues);  // timeline 1 went on to segment 3 after timeline 4 left it in 2
    // From a backup on timeline 1 before 0/2000100, recovery meets timeline 4's fork (which it would take: the
    // newest) and, through timeline 2, timeline 3's.
    std::vector<uint32_t> met;
    for (const TimelineFork& fork : live_forks_reached(f, 1, 0x1000028))
        met.push_back(fork.timeline);
    EXPECT_EQ(met, (std::vector<uint32_t>{3, 4}));
    // From a backup on timeline 2: only timeline 3's.
    ASSERT_EQ(live_forks_reached(f, 2, 0x3000100).size(), 1u);
    EXPECT_EQ(live_forks_reached(f, 2, 0x3000100)[0].timeline, 3u);
}

TEST_F(TimelineForks, DamagedHistoryIsAnError)
{
    put("000000010000000000000001");
    put_history(2, "this is not a history file\n");
    std::vector<ObjectInfo> wal;
    WV_ASSERT_OK(m_storage.list(k_wal_prefix, wal));
    std::vector<TimelineFork> out;
    const Status s = read_timeline_forks(m_storage, summarize_wal(wal, k_16_mib), k_16_mib, out);
    EXPECT_EQ(s.code(), Code::corrupt) << s.message();
}

}  // namespace
}  // namespace walvault
