// Unit tests for core/wal/timeline_history: history files as PostgreSQL writes them (tab-separated, a reason,
// comments), the errors readTimeLineHistory() reports, finding where a lineage left an ancestor, and where a
// receiver goes on on a server whose history may have forked before its position (resume_point).
#include "core/wal/timeline_history.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace walvault {
namespace {

TEST(ParseTimelineHistory, AsPostgresWritesIt)
{
    // What a server promoted twice writes for timeline 3 (writeTimeLineHistory: parent, tab, LSN, tab, reason).
    const std::string text = "1\t0/3000028\tno recovery target specified\n"
                             "\n"
                             "2\t1A/B374D848\tbefore 2026-11-23 10:15:00.000001+00\n";
    std::vector<TimelineSwitch> history;
    WV_ASSERT_OK(parse_timeline_history(text, 3, history));
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].parent, 1u);
    EXPECT_EQ(history[0].switch_lsn, 0x3000028u);
    EXPECT_EQ(history[0].reason, "no recovery target specified");
    EXPECT_EQ(history[1].parent, 2u);
    EXPECT_EQ(history[1].switch_lsn, 0x1AB374D848u);
    EXPECT_EQ(history[1].reason, "before 2026-11-23 10:15:00.000001+00");

    EXPECT_EQ(switch_point_from(history, 1), 0x3000028u);
    EXPECT_EQ(switch_point_from(history, 2), 0x1AB374D848u);
    EXPECT_EQ(switch_point_from(history, 3), std::nullopt);
}

TEST(ParseTimelineHistory, CommentsBlankLinesNoReasonNoFinalNewline)
{
    std::vector<TimelineSwitch> history{TimelineSwitch{9, 9, "stale"}};
    WV_ASSERT_OK(parse_timeline_history("# written by hand\n  \n\t# indented comment\n1\t0/5000000", 2, history));
    ASSERT_EQ(history.size(), 1u);
    EXPECT_EQ(history[0].parent, 1u);
    EXPECT_EQ(history[0].switch_lsn, 0x5000000u);
    EXPECT_EQ(history[0].reason, "");

    WV_ASSERT_OK(parse_timeline_history("", 2, history));
    EXPECT_TRUE(history.empty());
}

TEST(ParseTimelineHistory, ErrorsNameTheFileAndLine)
{
    const struct {
        const char* text;
        uint32_t timeline;
        const char* message;
    } cases[] = {
        {"x\t0/1\tr\n", 2, "syntax error in history file \"00000002.history\", line 1: expected a numeric timeline ID"},
        {"1\n", 2,
            "syntax error in history file \"00000002.history\", line 1: expected a write-ahead log switchpoint "
            "location"},
        {"# c\n1\tzz\tr\n", 2,
            "syntax error in history file \"00000002.history\", line 2: expected a write-ahead log switchpoint "
            "location"},
        {"1 0/1 r\n", 2,
            "syntax error in history file \"00000002.history\", line 1: expected a write-ahead log switchpoint "
            "location"},
        {"2\t0/1\tr\n1\t0/2\tr\n", 3,
            "syntax error in history file \"00000003.history\", line 2: timeline IDs must be in increasing sequence"},
        {"1\t0/1\tr\n2\t0/2\tr\n", 2,
            "syntax error in history file \"00000002.history\", line 2: timeline IDs must be less than the child "
            "timeline's ID"},
    };
    for (const auto& c : cases) {
        std::vector<TimelineSwitch> history;
        const Status s = parse_timeline_history(c.text, c.timeline, history);
        EXPECT_EQ(s.code(), Code::corrupt) << c.text;
        EXPECT_EQ(s.message(), c.message) << c.text;
    }
}

// resume_point: a receiver at 0/5000100 on timeline 1 (durable up to 0/5000000) reaches a server.
constexpr uint64_t k_received = 0x5000100;
constexpr uint64_t k_durable = 0x5000000;

TEST(ResumePoint, SameTimelineGoesOn)
{
    const ResumePoint r = resume_point(1, k_received, k_durable, 1, 0x5000200, {});
    EXPECT_EQ(r.kind, ResumePoint::Kind::same);
    // The server's WAL may end before what was received but not yet durable: it is streamed again.
    EXPECT_EQ(resume_point(1, k_received, k_durable, 1, k_durable, {}).kind, ResumePoint::Kind::same);
}

TEST(ResumePoint, ForkAtOrAfterThePositionGoesOn)
{
    // The server left timeline 1 after (or exactly at) the receiver's position: it streams timeline 1 up to
    // the switch, then timeline 2.
    const std::vector<TimelineSwitch> after{TimelineSwitch{1, 0x6000028, ""}};
    EXPECT_EQ(resume_point(1, k_received, k_durable, 2, 0x7000000, after).kind, ResumePoint::Kind::same);
    const std::vector<TimelineSwitch> at{TimelineSwitch{1, k_received, ""}};
    EXPECT_EQ(resume_point(1, k_received, k_durable, 2, 0x7000000, at).kind, ResumePoint::Kind::same);
    // Timeline 2 is an ancestor of the server's timeline 3, left after the position.
    const std::vector<TimelineSwitch> two{TimelineSwitch{1, 0x3000028, ""}, TimelineSwitch{2, 0x6000000, ""}};
    EXPECT_EQ(resume_point(2, k_received, k_durable, 3, 0x7000000, two).kind, ResumePoint::Kind::same);
}

TEST(ResumePoint, ForkBeforeThePositionContinuesOnTheNextTimeline)
{
    const std::vector<TimelineSwitch> one{TimelineSwitch{1, 0x40000A0, "no recovery target specified"}};
    ResumePoint r = resume_point(1, k_received, k_durable, 2, 0x4100000, one);
    EXPECT_EQ(r.kind, ResumePoint::Kind::forked);
    EXPECT_EQ(r.switch_lsn, 0x40000A0u);
    EXPECT_EQ(r.next_timeline, 2u);

    // Received past the switch, durable before it: still the server's history from the switch on.
    r = resume_point(1, k_received, 0x4000000, 2, 0x4100000, {TimelineSwitch{1, 0x5000080, ""}});
    EXPECT_EQ(r.kind, ResumePoint::Kind::forked);
    EXPECT_EQ(r.switch_lsn, 0x5000080u);

    // The timeline that follows in the server's history, not the server's own.
    const std::vector<TimelineSwitch> three{TimelineSwitch{1, 0x40000A0, ""}, TimelineSwitch{2, 0x4800000, ""}};
    r = resume_point(1, k_received, k_durable, 3, 0x9000000, three);
    EXPECT_EQ(r.kind, ResumePoint::Kind::forked);
    EXPECT_EQ(r.switch_lsn, 0x40000A0u);
    EXPECT_EQ(r.next_timeline, 2u);
    // Timeline 3 forked from timeline 1 directly (timeline 2 was another server's).
    r = resume_point(1, k_received, k_durable, 3, 0x9000000, {TimelineSwitch{1, 0x40000A0, ""}});
    EXPECT_EQ(r.kind, ResumePoint::Kind::forked);
    EXPECT_EQ(r.next_timeline, 3u);
}

TEST(ResumePoint, UnknownTimelineIsForeign)
{
    // A server whose history does not hold the receiver's timeline: an older timeline (the old primary after
    // a failover), a sibling, or a timeline 1 server.
    EXPECT_EQ(resume_point(2, k_received, k_durable, 1, 0x9000000, {}).kind, ResumePoint::Kind::foreign);
    EXPECT_EQ(resume_point(2, k_received, k_durable, 3, 0x9000000, {TimelineSwitch{1, 0x40000A0, ""}}).kind,
        ResumePoint::Kind::foreign);
    EXPECT_EQ(resume_point(3, k_received, k_durable, 2, 0x9000000, {TimelineSwitch{1, 0x40000A0, ""}}).kind,
        ResumePoint::Kind::foreign);
}

TEST(ResumePoint, ServerBehindTheDurablePosition)
{
    const ResumePoint r = resume_point(1, k_received, k_durable, 1, k_durable - 1, {});
    EXPECT_EQ(r.kind, ResumePoint::Kind::server_behind);
    EXPECT_EQ(resume_point(2, k_received, k_durable, 2, 0x100, {TimelineSwitch{1, 0x40, ""}}).kind,
        ResumePoint::Kind::server_behind);
}

}  // namespace
}  // namespace walvault
