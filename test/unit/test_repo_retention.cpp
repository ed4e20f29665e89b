// Unit tests for core/repo/retention: which backups and which WAL a policy keeps. Five backups on two
// timelines (a promotion between the third and the fourth), kept by count, by window and by pins; writers
// alive and gone; timelines no kept backup reaches; order by LSN whatever the labels say.
#include "core/repo/retention.h"

#include "core/common/utc_time.h"
#include "core/repo/layout.h"
#include "core/wal/wal_name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace walvault {
namespace {

constexpr uint64_t k_seg = 16 * 1024 * 1024;
constexpr int64_t k_day = 86400;
const int64_t k_now = 1796000000;  // 2026-11-30T...Z

uint64_t lsn_of(uint64_t segno)
{
    return segno * k_seg + 0x28;
}

class Retention : public ::testing::Test {
protected:
    // A complete backup on `timeline` that starts in segment start_seg and stops in stop_seg, finished
    // `days_ago` days before k_now.
    void backup(const std::string& label, uint32_t timeline, uint64_t start_seg, uint64_t stop_seg, int64_t days_ago)
    {
        BackupRecord r;
        r.label = label;
        r.complete = true;
        r.objects = 10;
        r.stored_bytes = 1000;
        r.manifest.label = label;
        r.manifest.timeline = timeline;
        r.manifest.start_lsn = lsn_of(start_seg);
        r.manifest.stop_lsn = lsn_of(stop_seg);
        r.manifest.wal_segment_size = k_seg;
        r.manifest.start_time = format_utc_time(k_now - days_ago * k_day - 60);
        r.manifest.stop_time = format_utc_time(k_now - days_ago * k_day);
        m_backups.push_back(r);
    }
    void segments(uint32_t timeline, uint64_t first, uint64_t last)
    {
        for (uint64_t n = first; n <= last; n++)
            m_wal.push_back(
                ObjectInfo{wal_object_key(*parse_wal_name(segment_file_name(timeline, n, k_seg))), 100, k_now});
    }
    // Timeline `timeline` left `parent` at the start of segment switch_seg.
    void history(uint32_t timeline, std::vector<TimelineSwitch> switches)
    {
        m_wal.push_back(ObjectInfo{wal_object_key(*parse_wal_name(history_file_name(timeline))), 50, k_now});
        m_histories[timeline] = std::move(switches);
    }
    ExpirePlan plan(RetentionPolicy policy)
    {
        std::sort(m_wal.begin(), m_wal.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
        ExpireInput in;
        in.backups = &m_backups;
        in.wal = &m_wal;
        in.histories = m_histories;
        in.segment_size = k_seg;
        in.now = k_now;
        in.lease_timeout = 300;
        in.policy = policy;
        ExpirePlan out;
        const Status s = plan_expire(in, out);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return out;
    }
    static std::vector<std::string> kept(const ExpirePlan& p)
    {
        std::vector<std::string> out;
        for (const BackupVerdict& v : p.backups)
            if (v.keep)
                out.push_back(v.record->label);
        return out;
    }
    // The segment names that stay on a timeline.
    std::vector<std::string> remaining(const ExpirePlan& p, uint32_t timeline)
    {
        std::vector<std::string> out;
        for (const ObjectInfo& o : m_wal) {
            if (std::find(p.wal_keys.begin(), p.wal_keys.end(), o.key) != p.wal_keys.end())
                continue;
            const auto name = wal_name_of_key_for_test(o.key);
            if (name && name->kind == WalKind::segment && name->timeline == timeline)
                out.push_back(name->text);
        }
        return out;
    }
    static std::optional<WalName> wal_name_of_key_for_test(const std::string& key)
    {
        const std::string base = key.substr(key.rfind('/') + 1);
        return parse_wal_name(base.substr(0, base.size() - 4));  // ".zst"
    }
    static std::string seg(uint32_t timeline, uint64_t n) { return segment_file_name(timeline, n, k_seg); }

    // b1..b3 on timeline 1 (segments 2, 10, 20), promotion to timeline 2 at segment 25, b4 and b5 on
    // timeline 2 (segments 30, 40); WAL 1..27 on timeline 1 (the old primary went on a little), 25..45 on 2.
    void two_timelines()
    {
        backup("b1", 1, 2, 3, 5);
        backup("b2", 1, 10, 11, 4);
        backup("b3", 1, 20, 21, 3);
        backup("b4", 2, 30, 31, 2);
        backup("b5", 2, 40, 41, 1);
        segments(1, 1, 27);
        segments(2, 25, 45);
        history(2, {{1, 25 * k_seg, "no recovery target specified"}});
    }

    std::vector<BackupRecord> m_backups;
    std::vector<ObjectInfo> m_wal;
    std::map<uint32_t, std::vector<TimelineSwitch>> m_histories;
};

TEST_F(Retention, NoPolicyIsRefusedWithTheSettingsToSet)
{
    ExpireInput in;
    ExpirePlan out;
    const Status s = plan_expire(in, out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "no retention policy is set");
    EXPECT_NE(s.hint().find("retain_full"), std::string::npos);
    EXPECT_NE(s.hint().find("retain_window"), std::string::npos);
}

TEST_F(Retention, CountKeepsTheNewestAndTheWalFromTheOldestKeptStart)
{
    two_timelines();
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 2});
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b4", "b5"}));
    EXPECT_EQ(p.backups_removed, 3u);
    // Timeline 1 is reached by no kept backup: all of it goes. Timeline 2 keeps 30.. (b4's start) on.
    EXPECT_TRUE(remaining(p, 1).empty());
    const std::vector<std::string> tl2 = remaining(p, 2);
    ASSERT_FALSE(tl2.empty());
    EXPECT_EQ(tl2.front(), seg(2, 30));
    EXPECT_EQ(tl2.back(), seg(2, 45));
    ASSERT_EQ(p.wal.size(), 2u);
    EXPECT_EQ(p.wal[0].timeline, 1u);
    EXPECT_TRUE(p.wal[0].whole);
    EXPECT_EQ(p.wal[0].objects, 27u);
    EXPECT_EQ(p.wal[1].timeline, 2u);
    EXPECT_FALSE(p.wal[1].whole);
    EXPECT_EQ(p.wal[1].first, seg(2, 25));
    EXPECT_EQ(p.wal[1].last, seg(2, 29));
    EXPECT_EQ(p.wal[1].first_kept, seg(2, 30));
    EXPECT_FALSE(p.wal[1].history);  // 00000002.history stays: timeline 2 is kept
    EXPECT_TRUE(p.history_keys.empty());
    EXPECT_TRUE(std::is_sorted(p.wal_keys.begin(), p.wal_keys.end()));
    EXPECT_FALSE(p.blocked());
}

TEST_F(Retention, AKeptBackupBeforeAPromotionKeepsBothTimelinesFromItsStart)
{
    two_timelines();
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 3});
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b3", "b4", "b5"}));
    const std::vector<std::string> tl1 = remaining(p, 1);
    ASSERT_EQ(tl1.size(), 8u);  // 20..27: b3's start on, the old primary's last segments too
    EXPECT_EQ(tl1.front(), seg(1, 20));
    EXPECT_EQ(remaining(p, 2).size(), 21u);  // all of timeline 2
}

TEST_F(Retention, BackupsAreOrderedByLsnNotByLabel)
{
    backup("zzz-oldest", 1, 2, 3, 3);
    backup("mmm-middle", 1, 10, 11, 2);
    backup("aaa-newest", 1, 20, 21, 1);
    segments(1, 1, 22);
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 1});
    EXPECT_EQ(kept(p), (std::vector<std::string>{"aaa-newest"}));
    EXPECT_EQ(remaining(p, 1).front(), seg(1, 20));
}

TEST_F(Retention, TheWindowKeepsItsBackupsAndTheNewestBeforeItsStart)
{
    two_timelines();  // finished 5, 4, 3, 2 and 1 days ago
    const ExpirePlan p = plan(RetentionPolicy{.retain_window = 3 * k_day + 3600});
    // b3 finished 3 days ago (inside); b2 4 days ago is the newest before the window's start.
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b2", "b3", "b4", "b5"}));
    EXPECT_EQ(remaining(p, 1).front(), seg(1, 10));
    bool anchor_reason = false;
    for (const std::string& r : p.backups[1].reasons)
        anchor_reason = anchor_reason || r.find("before the window's start") != std::string::npos;
    EXPECT_TRUE(anchor_reason);
}

TEST_F(Retention, CountAndWindowTogetherKeepWhatEitherKeeps)
{
    two_timelines();
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 4, .retain_window = k_day / 2});
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b2", "b3", "b4", "b5"}));
}

TEST_F(Retention, APinKeepsAnOldBackupAndItsWalOn)
{
    two_timelines();
    m_backups[0].pin = BackupPin{.pinned_at = k_now - 10, .until = 0, .reason = "audit", .standalone = false};
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 1});
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b1", "b5"}));
    EXPECT_EQ(remaining(p, 1).front(), seg(1, 2));
    EXPECT_EQ(remaining(p, 1).size(), 26u);
    EXPECT_EQ(remaining(p, 2).size(), 21u);  // reached from b1 through the promotion
}

TEST_F(Retention, AStandalonePinKeepsOnlyItsOwnWal)
{
    two_timelines();
    m_backups[0].pin = BackupPin{.pinned_at = k_now - 10, .until = 0, .reason = "", .standalone = true};
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 1});
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b1", "b5"}));
    EXPECT_TRUE(p.backups[0].standalone);
    // Its start and stop segments, and the one after, which recovery reads ahead into.
    EXPECT_EQ(remaining(p, 1), (std::vector<std::string>{seg(1, 2), seg(1, 3), seg(1, 4)}));
    EXPECT_EQ(remaining(p, 2).front(), seg(2, 40));
}

TEST_F(Retention, APinPastItsTimeNoLongerKeeps)
{
    two_timelines();
    m_backups[0].pin =
        BackupPin{.pinned_at = k_now - 10 * k_day, .until = k_now - k_day, .reason = "", .standalone = false};
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 1});
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b5"}));
    ASSERT_EQ(p.notices.size(), 1u);
    EXPECT_NE(p.notices[0].find("the pin of backup \"b1\" ended at"), std::string::npos);
}

TEST_F(Retention, ALiveWriterBlocksAndADeadOneIsCleanedUp)
{
    two_timelines();
    BackupRecord running;
    running.label = "running";
    running.lease =
        BackupLease{.heartbeat = k_now - 30, .modified = k_now - 30, .timeout = 300, .host = "db1", .pid = 42};
    m_backups.push_back(running);
    ExpirePlan p = plan(RetentionPolicy{.retain_full = 2});
    EXPECT_TRUE(p.blocked());
    ASSERT_EQ(p.writers.size(), 1u);
    EXPECT_NE(p.writers[0].find("backup \"running\" is being written on db1 (pid 42)"), std::string::npos);

    m_backups.back().lease->heartbeat = k_now - 301;
    m_backups.back().lease->modified = k_now - 400;
    p = plan(RetentionPolicy{.retain_full = 2});
    EXPECT_FALSE(p.blocked());
    EXPECT_EQ(kept(p), (std::vector<std::string>{"b4", "b5"}));  // "running" goes
    ASSERT_FALSE(p.notices.empty());
    EXPECT_NE(p.notices[0].find("breaking the lapsed lease of backup \"running\""), std::string::npos);
}

TEST_F(Retention, AnIncompleteBackupWithoutLeaseIsJudgedByItsStart)
{
    two_timelines();
    BackupRecord young;
    young.label = "young";
    young.started = format_utc_time(k_now - 100);
    m_backups.push_back(young);
    EXPECT_TRUE(plan(RetentionPolicy{.retain_full = 2}).blocked());
    m_backups.back().started = format_utc_time(k_now - 1000);
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 2});
    EXPECT_FALSE(p.blocked());
    EXPECT_FALSE(p.backups.back().keep);
}

TEST_F(Retention, WithoutACompleteBackupAllWalStays)
{
    segments(1, 1, 10);
    BackupRecord dead;
    dead.label = "dead";
    dead.started = format_utc_time(k_now - 10 * k_day);
    m_backups.push_back(dead);
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 1});
    EXPECT_TRUE(p.wal_keys.empty());
    EXPECT_EQ(p.backups_removed, 1u);
}

TEST_F(Retention, ATimelineWithoutHistoryIsKeptWhole)
{
    two_timelines();
    segments(3, 50, 52);  // no 00000003.history: its lineage is unknown
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 2});
    EXPECT_EQ(remaining(p, 3).size(), 3u);
    bool noticed = false;
    for (const std::string& n : p.notices)
        noticed = noticed || n.find("timeline 3 has WAL but no history file") != std::string::npos;
    EXPECT_TRUE(noticed);
}

TEST_F(Retention, AForkNoKeptBackupReachesGoesWholeWithItsHistory)
{
    two_timelines();
    // A copy restored from b1 and promoted at segment 5 became timeline 3 and archived 5..8.
    segments(3, 5, 8);
    history(3, {{1, 5 * k_seg, "before 2026-11-25"}});
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 3});
    EXPECT_TRUE(remaining(p, 3).empty());
    ASSERT_EQ(p.history_keys.size(), 1u);
    EXPECT_EQ(p.history_keys[0], wal_object_key(*parse_wal_name(history_file_name(3))));
    bool whole = false;
    for (const WalExpiry& w : p.wal)
        whole = whole || (w.timeline == 3 && w.whole && w.history && w.objects == 4);
    EXPECT_TRUE(whole);
}

}  // namespace
}  // namespace walvault

namespace walvault {
namespace {

class RetentionOfStreamPrefixes : public Retention { };

// Streamed prefixes (walvault receive) go with their segment, and where the complete segment is there.
TEST_F(RetentionOfStreamPrefixes, GoWithTheirSegmentOrOnceItIsComplete)
{
    two_timelines();
    auto prefix = [&](uint32_t timeline, uint64_t n, uint64_t length) {
        const std::string key = stream_prefix_key(*parse_wal_name(seg(timeline, n)), length);
        m_wal.push_back(ObjectInfo{key, 10, k_now});
        return key;
    };
    const std::string old_tl1 = prefix(1, 27, 0x1000);     // timeline 1 is removed whole
    const std::string superseded = prefix(2, 45, 0x2000);  // segment 45 is complete
    const std::string newest = prefix(2, 46, 0x3000);      // the segment in progress
    const ExpirePlan p = plan(RetentionPolicy{.retain_full = 2});
    auto removed = [&](const std::string& key) {
        return std::find(p.wal_keys.begin(), p.wal_keys.end(), key) != p.wal_keys.end();
    };
    EXPECT_TRUE(removed(old_tl1));
    EXPECT_TRUE(removed(superseded));
    EXPECT_FALSE(removed(newest));
    EXPECT_EQ(p.wal[0].objects, 28u);  // timeline 1: 27 segments and the prefix
    EXPECT_TRUE(std::is_sorted(p.wal_keys.begin(), p.wal_keys.end()));
}

}  // namespace
}  // namespace walvault
