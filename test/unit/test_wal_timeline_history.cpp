// Unit tests for core/wal/timeline_history: history files as PostgreSQL writes them (tab-separated, a reason,
// comments), the errors readTimeLineHistory() reports, and finding where a lineage left an ancestor.
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

}  // namespace
}  // namespace walvault
