// Unit tests for core/repo/backup_marks: pins and leases as JSON and as objects in a directory repository,
// and LeaseKeeper renewing a lease (a new object before the old one goes) and removing it at the end.
#include "core/repo/backup_marks.h"

#include "core/repo/layout.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

std::vector<std::string> marks(Storage& storage, const std::string& label)
{
    std::vector<std::string> out;
    for (const std::string& key : test::listed_keys(storage, backup_prefix(label)))
        if (backup_lease_time(key) || backup_pin_time(key))
            out.push_back(key);
    return out;
}

TEST(BackupMarks, PinJsonRoundTrip)
{
    const BackupPin pin{.pinned_at = 1795428900, .until = 1800000000, .reason = "audit", .standalone = true};
    BackupPin back;
    WV_ASSERT_OK(pin_from_json(pin_to_json(pin), back));
    EXPECT_EQ(back.pinned_at, pin.pinned_at);
    EXPECT_EQ(back.until, pin.until);
    EXPECT_EQ(back.reason, "audit");
    EXPECT_TRUE(back.standalone);
    WV_ASSERT_OK(pin_from_json(R"({"pinned_at":"2026-11-23T10:15:00Z","until":null})", back));
    EXPECT_EQ(back.until, 0);
    EXPECT_TRUE(back.active(4000000000));
    EXPECT_FALSE(back.standalone);
    EXPECT_EQ(pin_from_json("{}", back).code(), Code::corrupt);
    EXPECT_EQ(pin_from_json(R"({"pinned_at":"yesterday"})", back).code(), Code::corrupt);
}

TEST(BackupMarks, LeaseJsonRoundTripAndLiveness)
{
    const BackupLease lease{.heartbeat = 1795428900, .modified = 0, .timeout = 300, .host = "db1", .pid = 77};
    BackupLease back;
    back.modified = 1795428910;  // from the listing: kept
    WV_ASSERT_OK(lease_from_json(lease_to_json(lease), back));
    EXPECT_EQ(back.heartbeat, 1795428900);
    EXPECT_EQ(back.modified, 1795428910);
    EXPECT_EQ(back.timeout, 300);
    EXPECT_EQ(back.host, "db1");
    EXPECT_EQ(back.pid, 77);
    EXPECT_EQ(back.last_seen(), 1795428910);  // the later of the two clocks
    EXPECT_TRUE(back.alive(1795428910 + 300));
    EXPECT_FALSE(back.alive(1795428910 + 301));
    EXPECT_EQ(lease_from_json(R"({"heartbeat":"2026-11-23T10:15:00Z"})", back).code(), Code::corrupt);
}

TEST(BackupMarks, PinningAgainReplacesThePinAndUnpinRemovesIt)
{
    TempDir dir;
    PosixStorage storage(dir / "repo");
    WV_ASSERT_OK(test::put_object(storage, backup_started_key("b1"), "{}"));
    WV_ASSERT_OK(
        write_backup_pin(storage, "b1", BackupPin{.pinned_at = 100, .until = 0, .reason = "", .standalone = false}));
    WV_ASSERT_OK(
        write_backup_pin(storage, "b1", BackupPin{.pinned_at = 200, .until = 0, .reason = "", .standalone = false}));
    EXPECT_EQ(marks(storage, "b1"), (std::vector<std::string>{backup_pin_key("b1", 200)}));
    EXPECT_EQ(
        write_backup_pin(storage, "b1", BackupPin{.pinned_at = 200, .until = 0, .reason = "", .standalone = false})
            .code(),
        Code::busy);
    size_t removed = 0;
    WV_ASSERT_OK(remove_backup_pins(storage, "b1", removed));
    EXPECT_EQ(removed, 1u);
    EXPECT_TRUE(marks(storage, "b1").empty());
}

TEST(BackupMarks, LeaseKeeperRenewsAndRemovesItsLease)
{
    TempDir dir;
    PosixStorage storage(dir / "repo");
    LeaseKeeper keeper;
    const int64_t start = std::time(nullptr);
    WV_ASSERT_OK(keeper.start(storage, "b1", 4));  // renewed every second
    std::vector<std::string> keys = marks(storage, "b1");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_GE(*backup_lease_time(keys[0]), start);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    keys = marks(storage, "b1");
    ASSERT_EQ(keys.size(), 1u);  // the old one goes once the new one is there
    EXPECT_GT(*backup_lease_time(keys[0]), start);
    WV_EXPECT_OK(keeper.intact());
    keeper.finish();
    EXPECT_TRUE(marks(storage, "b1").empty());
}

}  // namespace
}  // namespace walvault
