// Unit tests for core/wal/replication: the replication protocol's CopyData messages byte by byte, and when
// walvault receive uploads a streamed prefix.
#include "core/wal/replication.h"

#include <gtest/gtest.h>

#include <vector>

namespace walvault {
namespace {

TEST(ReplicationMessage, XLogData)
{
    std::vector<uint8_t> m = {'w', 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x28, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x01, 0x00, 'a', 'b', 'c'};
    const auto parsed = parse_replication_message(m.data(), m.size());
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->kind, ReplicationMessage::Kind::xlog_data);
    EXPECT_EQ(parsed->wal_start, 0x01000028U);
    EXPECT_EQ(parsed->wal_end, 0x02000000U);
    EXPECT_EQ(parsed->send_time, 0x100);
    ASSERT_EQ(parsed->payload_len, 3U);
    EXPECT_EQ(parsed->payload[0], 'a');
    EXPECT_EQ(parsed->payload, m.data() + 25);
}

TEST(ReplicationMessage, Keepalive)
{
    std::vector<uint8_t> m = {'k', 0, 0, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, 1};
    const auto parsed = parse_replication_message(m.data(), m.size());
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->kind, ReplicationMessage::Kind::keepalive);
    EXPECT_EQ(parsed->wal_end, 0x03000000U);
    EXPECT_EQ(parsed->send_time, 7);
    EXPECT_TRUE(parsed->reply_requested);
    m[17] = 0;
    EXPECT_FALSE(parse_replication_message(m.data(), m.size())->reply_requested);
}

TEST(ReplicationMessage, UnknownOrShortIsRefused)
{
    const std::vector<uint8_t> short_w = {'w', 0, 0, 0};
    const std::vector<uint8_t> short_k = {'k', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const std::vector<uint8_t> other = {'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_FALSE(parse_replication_message(short_w.data(), short_w.size()));
    EXPECT_FALSE(parse_replication_message(short_k.data(), short_k.size()));
    EXPECT_FALSE(parse_replication_message(other.data(), other.size()));
    EXPECT_FALSE(parse_replication_message(other.data(), 0));
}

TEST(StandbyStatusUpdate, BigEndianPositionsClockAndReplyFlag)
{
    const std::vector<uint8_t> m = standby_status_update(0x0102030405060708ULL, 0x10, 0, 0x20, true);
    const std::vector<uint8_t> expected = {
        'r', 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 1};
    EXPECT_EQ(m, expected);
}

TEST(ShouldFlush, IntervalOrBytesWhicheverComesFirst)
{
    FlushPolicy policy;
    policy.interval = std::chrono::milliseconds(5000);
    policy.bytes = 1024 * 1024;
    EXPECT_FALSE(should_flush(policy, 0, std::chrono::milliseconds(60000)));  // nothing new
    EXPECT_FALSE(should_flush(policy, 100, std::chrono::milliseconds(4999)));
    EXPECT_TRUE(should_flush(policy, 100, std::chrono::milliseconds(5000)));
    EXPECT_TRUE(should_flush(policy, 1024 * 1024, std::chrono::milliseconds(1)));
    EXPECT_FALSE(should_flush(policy, 1024 * 1024 - 1, std::chrono::milliseconds(1)));
    policy.synchronous = true;
    EXPECT_TRUE(should_flush(policy, 1, std::chrono::milliseconds(0)));
    EXPECT_FALSE(should_flush(policy, 0, std::chrono::milliseconds(0)));
}

}  // namespace
}  // namespace walvault
