// Unit tests for core/repo/backup_catalog: the backups of fixed repositories in a directory (complete,
// killed before its manifest, without even a start marker, a damaged manifest), in the order list shows them.
#include "core/repo/backup_catalog.h"

#include "core/repo/layout.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

class BackupCatalog : public ::testing::Test {
protected:
    void put(const std::string& key, const std::string& text)
    {
        const Status s = test::put_object(m_storage, key, text);
        ASSERT_TRUE(s.is_ok()) << key << ": " << s.message();
    }
    void put_started(const std::string& label, const std::string& started)
    {
        put(backup_started_key(label),
            R"({"label":")" + label + R"(","started":")" + started + R"(","system_identifier":"7"})");
    }
    uint64_t size_of(const std::string& key)
    {
        ObjectInfo info;
        EXPECT_TRUE(m_storage.head(key, info).is_ok()) << key;
        return info.size;
    }
    static BackupManifest manifest(const std::string& label, const std::string& start_time)
    {
        BackupManifest m;
        m.label = label;
        m.start_time = start_time;
        m.stop_time = start_time;
        m.start_lsn = 0x3000028;
        m.stop_lsn = 0x3000100;
        m.timeline = 1;
        m.pg_version_num = 150020;
        m.system_identifier = 7;
        m.wal_segment_size = 16 * 1024 * 1024;
        m.compression = "zstd:3";
        BackupFile f;
        f.path = "base/1/1259";
        f.size = 10;
        f.sha256 = std::string(64, '0');
        f.stored_size = 10;
        m.files.push_back(f);
        return m;
    }

    TempDir m_dir;
    PosixStorage m_storage{m_dir.path()};
};

TEST_F(BackupCatalog, EmptyRepository)
{
    put(k_identity_key, "{}");
    std::vector<BackupRecord> backups{BackupRecord{}};
    WV_EXPECT_OK(read_backup_catalog(m_storage, backups));
    EXPECT_TRUE(backups.empty());
}

// Labels one list call each, past every object of the label: "b1" and "b10", "b1.x" all found.
TEST_F(BackupCatalog, ListBackupLabels)
{
    for (const char* label : {"b1", "b10", "b1.x", "20261123T101500Z"}) {
        put(backup_file_key(label, "base/1/1259"), "data");
        put(backup_file_key(label, "global/pg_control"), "data");
    }
    put(backup_manifest_key("b1"), "{}");
    put("backup/stray", "not a backup");
    std::vector<std::string> labels{"left over"};
    WV_EXPECT_OK(list_backup_labels(m_storage, labels));
    EXPECT_EQ(labels, (std::vector<std::string>{"20261123T101500Z", "b1.x", "b1", "b10"}));
}

TEST_F(BackupCatalog, CompleteIncompleteAndUnstartedInStartOrder)
{
    // A complete backup: started.json, one data object, backup.json.
    const std::string complete_json = manifest_to_json(manifest("b-complete", "2026-11-23T10:00:05Z"));
    put_started("b-complete", "2026-11-23T10:00:00Z");
    put(backup_file_key("b-complete", "base/1/1259"), "0123456789");
    put(backup_manifest_key("b-complete"), complete_json);
    // A backup killed before its manifest, started earlier.
    put_started("a-killed", "2026-11-23T09:00:00Z");
    put(backup_file_key("a-killed", "base/1/1259"), "01234");
    put(backup_part_key("a-killed", "base/1/2600", 0), "012");
    // Leftovers of a deletion that removed started.json's neighbours but not one data object: no start time.
    put(backup_file_key("z-leftover", "global/pg_control"), "01");
    // A later backup still under way, whose start time sorts after the complete one's.
    put_started("0-running", "2026-11-23T11:00:00Z");
    // Not backups: WAL, the identity, a key directly under backup/.
    put("wal/00000002.history.zst", "history");
    put(k_identity_key, "{}");
    put("backup/loose", "x");

    std::vector<BackupRecord> backups;
    WV_EXPECT_OK(read_backup_catalog(m_storage, backups));
    ASSERT_EQ(backups.size(), 4u);

    EXPECT_EQ(backups[0].label, "z-leftover");
    EXPECT_FALSE(backups[0].complete);
    EXPECT_EQ(backups[0].started, "");
    EXPECT_EQ(backups[0].objects, 1u);
    EXPECT_EQ(backups[0].stored_bytes, 2u);

    EXPECT_EQ(backups[1].label, "a-killed");
    EXPECT_FALSE(backups[1].complete);
    EXPECT_EQ(backups[1].started, "2026-11-23T09:00:00Z");
    EXPECT_EQ(backups[1].objects, 3u);
    EXPECT_EQ(backups[1].stored_bytes, 8u + size_of(backup_started_key("a-killed")));

    EXPECT_EQ(backups[2].label, "b-complete");
    EXPECT_TRUE(backups[2].complete);
    EXPECT_EQ(backups[2].started, "2026-11-23T10:00:00Z");
    EXPECT_EQ(manifest_to_json(backups[2].manifest), complete_json);
    EXPECT_EQ(backups[2].objects, 3u);
    EXPECT_EQ(backups[2].stored_bytes, 10u + complete_json.size() + size_of(backup_started_key("b-complete")));

    EXPECT_EQ(backups[3].label, "0-running");
    EXPECT_FALSE(backups[3].complete);
    EXPECT_EQ(backups[3].started, "2026-11-23T11:00:00Z");
    EXPECT_EQ(backups[3].objects, 1u);
}

TEST_F(BackupCatalog, SameStartTimeSortsByLabel)
{
    put_started("b", "2026-11-23T09:00:00Z");
    put_started("a", "2026-11-23T09:00:00Z");
    std::vector<BackupRecord> backups;
    WV_EXPECT_OK(read_backup_catalog(m_storage, backups));
    ASSERT_EQ(backups.size(), 2u);
    EXPECT_EQ(backups[0].label, "a");
    EXPECT_EQ(backups[1].label, "b");
}

TEST_F(BackupCatalog, UnreadableStartMarkerLeavesNoStartTime)
{
    put(backup_started_key("a"), "not json");
    std::vector<BackupRecord> backups;
    WV_EXPECT_OK(read_backup_catalog(m_storage, backups));
    ASSERT_EQ(backups.size(), 1u);
    EXPECT_EQ(backups[0].label, "a");
    EXPECT_EQ(backups[0].started, "");
}

TEST_F(BackupCatalog, DamagedManifestIsAnErrorNamingIt)
{
    put_started("ok", "2026-11-23T09:00:00Z");
    put(backup_manifest_key("ok"), manifest_to_json(manifest("ok", "2026-11-23T09:00:05Z")));
    put(backup_manifest_key("bad"), "{\"format\": 2");
    std::vector<BackupRecord> backups;
    const Status s = read_backup_catalog(m_storage, backups);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "backup \"bad\" (" + m_storage.location(backup_manifest_key("bad")) +
            "): backup manifest is not a JSON object");
}

TEST_F(BackupCatalog, PinsOfAnyBackupAndLeasesOfIncompleteOnesAreRead)
{
    put_started("done", "2026-11-23T09:00:00Z");
    put(backup_manifest_key("done"), manifest_to_json(manifest("done", "2026-11-23T09:00:05Z")));
    BackupPin old_pin{.pinned_at = 1795400000, .until = 0, .reason = "old", .standalone = false};
    BackupPin pin{.pinned_at = 1795428900, .until = 1795500000, .reason = "audit 2026", .standalone = true};
    put(backup_pin_key("done", old_pin.pinned_at), pin_to_json(old_pin));
    put(backup_pin_key("done", pin.pinned_at), pin_to_json(pin));
    put(backup_lease_key("done", 1795428000),
        lease_to_json(BackupLease{.heartbeat = 1795428000, .modified = 0, .timeout = 60, .host = "", .pid = 0}));
    put_started("running", "2026-11-23T10:00:00Z");
    put(backup_lease_key("running", 1795400000),
        lease_to_json(BackupLease{.heartbeat = 1795400000, .modified = 0, .timeout = 60, .host = "", .pid = 0}));
    put(backup_lease_key("running", 1795428900),
        lease_to_json(BackupLease{.heartbeat = 1795428900, .modified = 0, .timeout = 120, .host = "db1", .pid = 4242}));
    std::vector<BackupRecord> backups;
    WV_ASSERT_OK(read_backup_catalog(m_storage, backups));
    ASSERT_EQ(backups.size(), 2u);
    const BackupRecord& done = backups[0];
    ASSERT_TRUE(done.pin.has_value());
    EXPECT_EQ(done.pin->pinned_at, pin.pinned_at);  // the newest pin counts
    EXPECT_EQ(done.pin->until, pin.until);
    EXPECT_EQ(done.pin->reason, "audit 2026");
    EXPECT_TRUE(done.pin->standalone);
    EXPECT_TRUE(done.pin->active(1795499999));
    EXPECT_FALSE(done.pin->active(1795500000));
    EXPECT_FALSE(done.lease.has_value());  // complete: no writer to judge
    const BackupRecord& running = backups[1];
    EXPECT_FALSE(running.pin.has_value());
    ASSERT_TRUE(running.lease.has_value());
    EXPECT_EQ(running.lease->heartbeat, 1795428900);
    EXPECT_EQ(running.lease->timeout, 120);
    EXPECT_EQ(running.lease->host, "db1");
    EXPECT_EQ(running.lease->pid, 4242);
    EXPECT_GT(running.lease->modified, 0);
    EXPECT_GT(running.started_modified, 0);
}

TEST_F(BackupCatalog, DamagedPinIsAnErrorNamingIt)
{
    put_started("a", "2026-11-23T09:00:00Z");
    put(backup_pin_key("a", 1795428900), "{\"until\": 3}");
    std::vector<BackupRecord> backups;
    const Status s = read_backup_catalog(m_storage, backups);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "backup \"a\" (" + m_storage.location(backup_pin_key("a", 1795428900)) +
            "): the pin is not valid JSON of the expected form");
}

}  // namespace
}  // namespace walvault
