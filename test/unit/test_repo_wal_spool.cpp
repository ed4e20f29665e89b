// Unit tests for core/repo/wal_spool: what wal-fetch serves from the prefetch spool (only final-named files
// of the right size, from the right repository and system, by exact name, so never another timeline's), the
// marker wiping a spool of another source, downloads into the spool, and the prefetcher loop against a real
// PosixStorage: window, timeline, pruning, end of archive, idle, another source, stop.
#include "core/repo/wal_spool.h"

#include "core/repo/layout.h"
#include "core/repo/wal_archive.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace walvault {
namespace {

using namespace std::chrono_literals;
using test::k_mib;
using test::TempDir;

constexpr uint64_t k_segsize = k_mib;  // the smallest segment size initdb accepts keeps the tests fast
constexpr const char* k_repo_location = "/srv/walvault/main";
constexpr uint64_t k_sysid = 7312345678901234567ULL;

WalName wal(const std::string& text)
{
    const auto w = parse_wal_name(text);
    if (!w)
        throw std::runtime_error("not a WAL name: " + text);
    return *w;
}

SpoolMarker marker_of(const std::string& repo, uint64_t sysid = k_sysid)
{
    return SpoolMarker{repo, sysid, k_segsize, {}};
}

// Deterministic contents of a segment, different per name.
std::vector<uint8_t> segment_data(const std::string& name)
{
    return test::random_bytes(k_segsize, std::hash<std::string>{}(name));
}

// The spool's WAL and temporary files (not its own bookkeeping files).
std::vector<std::string> wal_entries(const WalSpool& spool)
{
    std::vector<std::string> out;
    // The spool's own files, and the second inode of each file rewritten by an exchange of names.
    const std::set<std::string> own = {k_spool_marker_file, k_spool_position_file, k_spool_lock_file,
        k_spool_stats_file, std::string(k_spool_position_file) + ".new", std::string(k_spool_stats_file) + ".new"};
    for (const std::string& e : test::dir_entries(spool.dir()))
        if (own.count(e) == 0)
            out.push_back(e);
    return out;
}

class Spool : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::filesystem::create_directories(m_dir / "pg_wal");
        WV_ASSERT_OK(m_spool.adopt(marker_of(k_repo_location)));
    }

    // A file planted in the spool as if the prefetcher had finished it.
    void plant(const std::string& name, size_t size)
    {
        std::vector<uint8_t> data = segment_data(name);
        data.resize(size);
        test::write_file(m_spool.path(name), data);
    }

    TempDir m_dir;
    WalSpool m_spool{m_dir / k_spool_dir};
    std::string m_dest = m_dir / "pg_wal/RECOVERYXLOG";
};

TEST_F(Spool, AdoptCreatesTheDirectoryAndWritesTheMarker)
{
    SpoolMarker m;
    WV_ASSERT_OK(m_spool.read_marker(m));
    EXPECT_EQ(m.repository, k_repo_location);
    EXPECT_EQ(m.system_identifier, k_sysid);
    EXPECT_EQ(m.wal_segment_size, k_segsize);
    EXPECT_EQ(m.boot_id, current_boot_id());
    EXPECT_EQ(test::to_string(test::read_file(m_spool.path(k_spool_marker_file))),
        "{\"repository\":\"/srv/walvault/main\",\"system_identifier\":\"7312345678901234567\","
        "\"wal_segment_size\":1048576,\"boot_id\":\"" +
            current_boot_id() + "\"}\n");
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

TEST_F(Spool, ServesAVerifiedFileByRenamingIt)
{
    plant("000000010000000000000005", k_segsize);
    WV_ASSERT_OK(m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest));
    EXPECT_EQ(test::read_file(m_dest), segment_data("000000010000000000000005"));
    EXPECT_FALSE(m_spool.has("000000010000000000000005"));
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

TEST_F(Spool, RefusesAndDeletesATruncatedFile)
{
    plant("000000010000000000000005", 1000);
    const Status s = m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(
        s.message(), "prefetched file \"" + m_spool.path("000000010000000000000005") + "\" is 1000 bytes, not 1048576");
    EXPECT_FALSE(test::file_exists(m_dest));
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

TEST_F(Spool, RefusesAFileLongerThanASegment)
{
    plant("000000010000000000000005", k_segsize);
    std::vector<uint8_t> data = segment_data("000000010000000000000005");
    data.push_back(0);
    test::write_file(m_spool.path("000000010000000000000005"), data);
    const Status s = m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_FALSE(test::file_exists(m_dest));
}

TEST_F(Spool, NeverServesATemporaryFile)
{
    // A download that ended before its rename: complete in size, but not verified.
    test::write_file(m_spool.path(".000000010000000000000005.tmp"), segment_data("000000010000000000000005"));
    const Status s = m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "\"000000010000000000000005\" is not in the spool");
    EXPECT_FALSE(test::file_exists(m_dest));
}

TEST_F(Spool, WaitsForALiveDownloadOnlyWhileItGrows)
{
    // Someone (the prefetcher) holds the temporary file locked and writes nothing more: give up after the
    // stall timeout, serve nothing.
    const std::string temp = m_spool.path(".000000010000000000000005.tmp");
    test::write_file(temp, std::vector<uint8_t>(4096, 1));
    const int fd = ::open(temp.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    const Status s = m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest, 100ms);
    ::close(fd);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "the download of \"000000010000000000000005\" into the spool stalled");
    EXPECT_FALSE(test::file_exists(m_dest));
}

TEST_F(Spool, ServesADownloadThatCompletesWhileWaiting)
{
    // The prefetcher is writing segment 5 when wal-fetch asks for it: wal-fetch waits, and gets it once
    // it is renamed to its final name.
    const std::string temp = m_spool.path(".000000010000000000000005.tmp");
    test::write_file(temp, std::vector<uint8_t>(4096, 1));
    const int fd = ::open(temp.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    std::thread prefetcher([&] {
        std::this_thread::sleep_for(50ms);
        test::write_file(temp, segment_data("000000010000000000000005"));
        ::rename(temp.c_str(), m_spool.path("000000010000000000000005").c_str());
        ::close(fd);
    });
    const Status s = m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest, 10s);
    prefetcher.join();
    WV_ASSERT_OK(s);
    EXPECT_EQ(test::read_file(m_dest), segment_data("000000010000000000000005"));
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

TEST_F(Spool, AnotherTimelinesFileIsNeverServedAndIsPruned)
{
    plant("000000020000000000000005", k_segsize);  // same segment number, timeline 2
    plant("000000010000000000000003", k_segsize);
    plant("000000010000000000000004", k_segsize);
    plant("000000010000000000000006", k_segsize);
    const Status s = m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_FALSE(test::file_exists(m_dest));

    // Recovery is at segment 4 of timeline 1: 3 and 4 are behind it, timeline 2 is not recovery's.
    WV_ASSERT_OK(m_spool.prune(wal("000000010000000000000004"), k_segsize));
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{"000000010000000000000006"});
}

TEST_F(Spool, PruneRemovesLeftoverTemporaryFilesButNotLiveOnes)
{
    test::write_file(m_spool.path(".000000010000000000000007.tmp"), std::vector<uint8_t>(10, 0));
    const std::string live = m_spool.path(".000000010000000000000008.tmp");
    test::write_file(live, std::vector<uint8_t>(10, 0));
    const int fd = ::open(live.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    test::write_file(m_spool.path("notes.txt"), "not WAL: left alone\n");
    WV_EXPECT_OK(m_spool.prune(wal("000000010000000000000004"), k_segsize));
    ::close(fd);
    EXPECT_EQ(wal_entries(m_spool), (std::vector<std::string>{".000000010000000000000008.tmp", "notes.txt"}));
}

TEST_F(Spool, AnotherRepositoryOrSystemIsNotServedAndAdoptingWipes)
{
    plant("000000010000000000000005", k_segsize);
    plant("000000010000000000000006", k_segsize);
    for (const SpoolMarker& other : {marker_of("/srv/walvault/other"), marker_of(k_repo_location, k_sysid + 1)}) {
        const Status s = m_spool.take(wal("000000010000000000000005"), other, m_dest);
        EXPECT_EQ(s.code(), Code::not_found);
        EXPECT_EQ(
            s.message(), "the spool \"" + m_spool.dir() + "\" holds WAL of another repository or database system");
        EXPECT_FALSE(test::file_exists(m_dest));
    }
    EXPECT_EQ(wal_entries(m_spool), (std::vector<std::string>{"000000010000000000000005", "000000010000000000000006"}));

    bool wiped = false;
    WV_ASSERT_OK(m_spool.adopt(marker_of("/srv/walvault/other"), &wiped));
    EXPECT_TRUE(wiped);
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
    SpoolMarker m;
    WV_ASSERT_OK(m_spool.read_marker(m));
    EXPECT_EQ(m.repository, "/srv/walvault/other");

    // The same source again: nothing to wipe.
    plant("000000010000000000000007", k_segsize);
    WV_ASSERT_OK(m_spool.adopt(marker_of("/srv/walvault/other"), &wiped));
    EXPECT_FALSE(wiped);
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{"000000010000000000000007"});
}

TEST_F(Spool, ASpoolOfAnEarlierBootIsNotServedAndAdoptingWipes)
{
    // A spool is trusted only in the boot that filled it: the same directory seen from the next boot serves
    // none of its files, and the next prefetcher starts afresh.
    plant("000000010000000000000005", k_segsize);
    EXPECT_EQ(current_boot_id().size(), 36u);  // Linux: a UUID
    WalSpool after_restart(m_spool.dir(), "00000000-0000-4000-8000-000000000000");
    const Status s = after_restart.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "the spool \"" + m_spool.dir() + "\" was filled before the machine last started");
    EXPECT_FALSE(test::file_exists(m_dest));

    bool wiped = false;
    WV_ASSERT_OK(after_restart.adopt(marker_of(k_repo_location), &wiped));
    EXPECT_TRUE(wiped);
    EXPECT_EQ(wal_entries(after_restart), std::vector<std::string>{});
    SpoolMarker m;
    WV_ASSERT_OK(after_restart.read_marker(m));
    EXPECT_EQ(m.boot_id, "00000000-0000-4000-8000-000000000000");

    // The old boot's view now refuses the new boot's spool the same way.
    plant("000000010000000000000006", k_segsize);
    EXPECT_EQ(
        m_spool.take(wal("000000010000000000000006"), marker_of(k_repo_location), m_dest).code(), Code::not_found);
    WV_ASSERT_OK(after_restart.take(wal("000000010000000000000006"), marker_of(k_repo_location), m_dest));
}

TEST_F(Spool, AMissingOrDamagedMarkerMeansNothingIsServedAndAdoptingWipes)
{
    plant("000000010000000000000005", k_segsize);
    test::write_file(m_spool.path(k_spool_marker_file), "{\"repository\": 1}");
    EXPECT_EQ(
        m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest).code(), Code::not_found);
    ::unlink(m_spool.path(k_spool_marker_file).c_str());
    EXPECT_EQ(
        m_spool.take(wal("000000010000000000000005"), marker_of(k_repo_location), m_dest).code(), Code::not_found);
    EXPECT_FALSE(test::file_exists(m_dest));
    bool wiped = false;
    WV_ASSERT_OK(m_spool.adopt(marker_of(k_repo_location), &wiped));
    EXPECT_TRUE(wiped);
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

// Position and counters are rewritten in place and swapped in by an exchange of names: each rewrite must
// leave exactly its own text, whether it is longer or shorter than the one before.
TEST_F(Spool, PositionRewritesLeaveExactlyTheLastText)
{
    const std::string long_repo = std::string(k_repo_location) + "/a/much/longer/location/than/the/others";
    const std::vector<std::pair<std::string, std::string>> writes = {{"000000010000000000000005", long_repo},
        {"000000010000000000000006", k_repo_location}, {"000000010000000000000007", long_repo},
        {"000000010000000000000008", k_repo_location}};
    for (const auto& [segment, repo] : writes) {
        WV_ASSERT_OK(m_spool.write_position({segment, repo, k_sysid}));
        SpoolPosition p;
        WV_ASSERT_OK(m_spool.read_position(p));
        EXPECT_EQ(p.segment, segment);
        EXPECT_EQ(p.repository, repo);
        EXPECT_EQ(test::to_string(test::read_file(m_spool.path(k_spool_position_file))),
            "{\"segment\":\"" + segment + "\",\"repository\":\"" + repo + "\",\"system_identifier\":\"" +
                std::to_string(k_sysid) + "\"}\n");
    }
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

TEST_F(Spool, PositionAndStatsRoundTrip)
{
    SpoolPosition p;
    EXPECT_EQ(m_spool.read_position(p).code(), Code::not_found);
    WV_ASSERT_OK(m_spool.write_position({"000000010000000000000005", k_repo_location, k_sysid}));
    WV_ASSERT_OK(m_spool.read_position(p));
    EXPECT_EQ(p.segment, "000000010000000000000005");
    EXPECT_EQ(p.repository, k_repo_location);
    EXPECT_EQ(p.system_identifier, k_sysid);

    SpoolStats st;
    WV_ASSERT_OK(m_spool.read_stats(st));
    EXPECT_EQ(st.served + st.direct + st.refused, 0u);
    WV_ASSERT_OK(m_spool.add_stats({1, 0, 0}));
    WV_ASSERT_OK(m_spool.add_stats({1, 2, 3}));
    WV_ASSERT_OK(m_spool.read_stats(st));
    EXPECT_EQ(st.served, 2u);
    EXPECT_EQ(st.direct, 2u);
    EXPECT_EQ(st.refused, 3u);
    EXPECT_EQ(test::to_string(test::read_file(m_spool.path(k_spool_stats_file))),
        "{\"served\":2,\"direct\":2,\"refused\":3}\n");
}

// ---- downloads and the prefetcher, against a PosixStorage repository ------------------------------------

class Prefetch : public Spool {
protected:
    void SetUp() override
    {
        Spool::SetUp();
        std::filesystem::create_directories(m_dir / "src");
        WV_ASSERT_OK(m_spool.adopt(marker()));
    }

    SpoolMarker marker() const { return marker_of(m_storage.location()); }

    void archive(const std::string& name, const std::vector<uint8_t>& data)
    {
        const std::string path = m_dir / ("src/" + name);
        test::write_file(path, data);
        const auto c = Compression::parse("zstd:1", nullptr);
        ArchiveReport report;
        WV_ASSERT_OK(archive_wal_file(m_storage, m_encoder, *c, name, path, report));
    }
    void archive(const std::string& name) { archive(name, segment_data(name)); }

    std::string object_path(const std::string& name) const { return m_storage.location(wal_object_key(wal(name))); }

    Status run(const std::string& position, int window, PrefetchResult& result, std::chrono::milliseconds idle = 300ms)
    {
        Status s = m_spool.write_position({position, m_storage.location(), k_sysid});
        if (!s.is_ok())
            return s;
        PrefetchOptions o;
        o.window = window;
        o.parallel = 2;
        o.idle_timeout = idle;
        o.poll_interval = 5ms;
        o.end_of_archive_retry = 10ms;
        return run_prefetcher(m_spool, m_storage, marker(), o, result);
    }

    PosixStorage m_storage{m_dir / "repo"};
    Encoder m_encoder;
};

TEST_F(Prefetch, FetchSpoolsAVerifiedSegment)
{
    archive("000000010000000000000005");
    WV_ASSERT_OK(m_spool.fetch(m_storage, wal("000000010000000000000005"), k_segsize, {}));
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{"000000010000000000000005"});
    EXPECT_EQ(test::read_file(m_spool.path("000000010000000000000005")), segment_data("000000010000000000000005"));
    WV_ASSERT_OK(m_spool.take(wal("000000010000000000000005"), marker(), m_dest));
    EXPECT_EQ(test::read_file(m_dest), segment_data("000000010000000000000005"));
}

TEST_F(Prefetch, FetchLeavesNothingBehindOnFailure)
{
    // Not archived.
    Status s = m_spool.fetch(m_storage, wal("000000010000000000000005"), k_segsize, {});
    EXPECT_EQ(s.code(), Code::not_found);

    // An object holding another segment (copied under the wrong key).
    archive("000000010000000000000006");
    std::filesystem::copy_file(object_path("000000010000000000000006"), object_path("000000010000000000000005"));
    s = m_spool.fetch(m_storage, wal("000000010000000000000005"), k_segsize, {});
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "object \"" + object_path("000000010000000000000005") +
            "\" holds \"000000010000000000000006\", not \"000000010000000000000005\"");

    // A file of the wrong size archived under a segment name.
    archive("000000010000000000000007", std::vector<uint8_t>(1000, 7));
    s = m_spool.fetch(m_storage, wal("000000010000000000000007"), k_segsize, {});
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "object \"" + object_path("000000010000000000000007") + "\" holds 1000 bytes, not a segment of 1048576");

    // A damaged object: the checksum (or zstd) catches it.
    archive("000000010000000000000008");
    {
        std::vector<uint8_t> obj = test::read_file(object_path("000000010000000000000008"));
        obj[obj.size() / 2] ^= 0xFF;
        ::unlink(object_path("000000010000000000000008").c_str());
        test::write_file(object_path("000000010000000000000008"), obj);
    }
    s = m_spool.fetch(m_storage, wal("000000010000000000000008"), k_segsize, {});
    EXPECT_EQ(s.code(), Code::corrupt);

    // Cancelled.
    archive("000000010000000000000009");
    s = m_spool.fetch(m_storage, wal("000000010000000000000009"), k_segsize, [] { return true; });
    EXPECT_EQ(s.code(), Code::busy);

    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

// Segments archived by an older walvault (no xxh3_128 in the trailer) are spooled all the same, checked by
// their sha256; damaged, they are not.
TEST_F(Prefetch, FetchSpoolsAnOlderWalvaultsSegment)
{
    for (const char* name : {"000000010000000000000005", "000000010000000000000006"}) {
        archive(name);
        std::vector<uint8_t> old = test::without_xxh3(test::read_file(object_path(name)));
        if (std::string(name) == "000000010000000000000006")
            old[old.size() / 3] ^= 0x04;
        ::unlink(object_path(name).c_str());
        test::write_file(object_path(name), old);
    }
    WV_ASSERT_OK(m_spool.fetch(m_storage, wal("000000010000000000000005"), k_segsize, {}));
    EXPECT_EQ(test::read_file(m_spool.path("000000010000000000000005")), segment_data("000000010000000000000005"));
    const Status s = m_spool.fetch(m_storage, wal("000000010000000000000006"), k_segsize, {});
    EXPECT_EQ(s.code(), Code::corrupt) << s.message();
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{"000000010000000000000005"});
}

TEST_F(Prefetch, FetchesTheWindowAfterThePositionOnItsTimeline)
{
    for (int i = 1; i <= 8; ++i)
        archive(segment_file_name(1, i, k_segsize));
    archive("000000020000000000000004");  // another timeline's segment after the position: not recovery's
    plant("000000020000000000000003", k_segsize);
    plant("000000010000000000000001", k_segsize);
    test::write_file(m_spool.path(".000000010000000000000003.tmp"), std::vector<uint8_t>(10, 0));

    PrefetchResult r;
    WV_ASSERT_OK(run("000000010000000000000002", 3, r));
    EXPECT_EQ(r.end, PrefetchEnd::idle);  // segment 6 is archived, but outside the window
    EXPECT_EQ(r.fetched, 3u);
    EXPECT_EQ(r.failed, 0u);
    EXPECT_EQ(wal_entries(m_spool),
        (std::vector<std::string>{"000000010000000000000003", "000000010000000000000004", "000000010000000000000005"}));
    for (const char* n : {"000000010000000000000003", "000000010000000000000004", "000000010000000000000005"})
        EXPECT_EQ(test::read_file(m_spool.path(n)), segment_data(n)) << n;

    // Recovery took 3 and 4 (one served, one fetched directly); the next run keeps 5 and ends at the
    // end of the archive, 9.
    WV_ASSERT_OK(m_spool.take(wal("000000010000000000000003"), marker(), m_dest));
    WV_ASSERT_OK(run("000000010000000000000004", 16, r, 60s));
    EXPECT_EQ(r.end, PrefetchEnd::end_of_archive);
    EXPECT_EQ(r.fetched, 3u);  // 6, 7, 8
    EXPECT_EQ(wal_entries(m_spool),
        (std::vector<std::string>{"000000010000000000000005", "000000010000000000000006", "000000010000000000000007",
            "000000010000000000000008"}));
}

TEST_F(Prefetch, StopsBeforeAGapAndLeavesItToWalFetch)
{
    archive("000000010000000000000003");
    archive("000000010000000000000005");  // 4 is missing
    PrefetchResult r;
    WV_ASSERT_OK(run("000000010000000000000002", 16, r, 60s));
    EXPECT_EQ(r.end, PrefetchEnd::end_of_archive);
    // 5 was asked for in the same round as 4, before 4 was known to be missing: a verified segment, kept.
    EXPECT_EQ(wal_entries(m_spool), (std::vector<std::string>{"000000010000000000000003", "000000010000000000000005"}));
}

TEST_F(Prefetch, ADamagedObjectIsLeftToWalFetch)
{
    archive("000000010000000000000003");
    archive("000000010000000000000004", std::vector<uint8_t>(1000, 4));
    archive("000000010000000000000005");
    PrefetchResult r;
    WV_ASSERT_OK(run("000000010000000000000002", 3, r));
    EXPECT_EQ(r.end, PrefetchEnd::idle);
    EXPECT_EQ(r.failed, 1u);
    EXPECT_EQ(r.last_error,
        "object \"" + object_path("000000010000000000000004") + "\" holds 1000 bytes, not a segment of 1048576");
    EXPECT_EQ(wal_entries(m_spool), (std::vector<std::string>{"000000010000000000000003", "000000010000000000000005"}));
}

TEST_F(Prefetch, ANewTimelinePositionDropsTheOldTimeline)
{
    archive("000000010000000000000003");
    archive("000000010000000000000004");
    archive("000000020000000000000004");
    archive("000000020000000000000005");
    PrefetchResult r;
    WV_ASSERT_OK(run("000000010000000000000002", 2, r));
    EXPECT_EQ(wal_entries(m_spool), (std::vector<std::string>{"000000010000000000000003", "000000010000000000000004"}));
    WV_ASSERT_OK(run("000000020000000000000003", 3, r, 60s));
    EXPECT_EQ(r.end, PrefetchEnd::end_of_archive);
    EXPECT_EQ(wal_entries(m_spool), (std::vector<std::string>{"000000020000000000000004", "000000020000000000000005"}));
}

TEST_F(Prefetch, StopsWhenAnotherSourceTookOverOrWhenTold)
{
    archive("000000010000000000000003");
    WV_ASSERT_OK(m_spool.write_position({"000000010000000000000002", "/srv/walvault/other", k_sysid}));
    PrefetchOptions o;
    PrefetchResult r;
    WV_ASSERT_OK(run_prefetcher(m_spool, m_storage, marker(), o, r));
    EXPECT_EQ(r.end, PrefetchEnd::other_source);
    EXPECT_EQ(r.fetched, 0u);

    WV_ASSERT_OK(m_spool.write_position({"000000010000000000000002", m_storage.location(), k_sysid}));
    o.keep_going = [] { return false; };
    WV_ASSERT_OK(run_prefetcher(m_spool, m_storage, marker(), o, r));
    EXPECT_EQ(r.end, PrefetchEnd::stopped);
    EXPECT_EQ(wal_entries(m_spool), std::vector<std::string>{});
}

}  // namespace
}  // namespace walvault
