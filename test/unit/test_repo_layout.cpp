// Unit tests for core/repo/layout: the object key of each kind of WAL file and backup object, exactly as
// docs/repository-format.md lays them out.
#include "core/repo/layout.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace walvault {
namespace {

std::string key_of(const std::string& text)
{
    const auto name = parse_wal_name(text);
    if (!name)
        throw std::runtime_error("not a WAL name: " + text);
    return wal_object_key(*name);
}

TEST(Layout, Constants)
{
    EXPECT_STREQ(k_identity_key, "identity.json");
    EXPECT_STREQ(k_wal_prefix, "wal/");
    EXPECT_STREQ(k_backup_prefix, "backup/");
}

TEST(WalObjectKey, History)
{
    EXPECT_EQ(key_of("00000002.history"), "wal/00000002.history.zst");
    EXPECT_EQ(key_of("0000002A.history"), "wal/0000002A.history.zst");
}

TEST(WalObjectKey, Segment)
{
    EXPECT_EQ(key_of("000000010000000000000003"), "wal/0000000100000000/000000010000000000000003.zst");
    EXPECT_EQ(key_of("000000010000000A000000FF"), "wal/000000010000000A/000000010000000A000000FF.zst");
    EXPECT_EQ(key_of("00000003000000FF00000003"), "wal/00000003000000FF/00000003000000FF00000003.zst");
}

TEST(WalObjectKey, Partial)
{
    EXPECT_EQ(key_of("000000010000000000000003.partial"), "wal/0000000100000000/000000010000000000000003.partial.zst");
}

TEST(WalObjectKey, Backup)
{
    EXPECT_EQ(key_of("000000010000000000000003.00000028.backup"),
        "wal/0000000100000000/000000010000000000000003.00000028.backup.zst");
}

TEST(WalObjectKey, SegmentPartialAndBackupShareADirectory)
{
    const std::string dir = "wal/0000000200000005/";
    for (const char* text :
        {"0000000200000005000000A0", "0000000200000005000000A0.partial", "0000000200000005000000A0.00001000.backup"}) {
        const std::string key = key_of(text);
        EXPECT_EQ(key.substr(0, dir.size()), dir) << key;
        EXPECT_EQ(key, dir + text + ".zst");
    }
}

TEST(BackupKeys, EveryKindOfObject)
{
    EXPECT_EQ(backup_prefix("b1"), "backup/b1/");
    EXPECT_EQ(backup_manifest_key("b1"), "backup/b1/backup.json");
    EXPECT_EQ(backup_started_key("b1"), "backup/b1/started.json");
    EXPECT_EQ(backup_file_key("b1", "base/1/1259"), "backup/b1/data/base/1/1259.zst");
    EXPECT_EQ(backup_file_key("b1", "pg_tblspc/16385/PG_15_202209061/5/16386"),
        "backup/b1/data/pg_tblspc/16385/PG_15_202209061/5/16386.zst");
    // Hidden components and unusual bytes cannot become storage keys as they are.
    EXPECT_EQ(backup_file_key("b1", ".psql_history"), "backup/b1/data/%2Epsql_history.zst");
    EXPECT_EQ(backup_file_key("b1", "log/.x.y"), "backup/b1/data/log/%2Ex.y.zst");
    EXPECT_EQ(backup_file_key("b1", "a b%"), "backup/b1/data/a%20b%25.zst");
    EXPECT_EQ(backup_part_key("b1", "base/1/1259", 0), "backup/b1/data/base/1/1259.zst.0");
    EXPECT_EQ(backup_part_key("b1", "base/1/1259", 15), "backup/b1/data/base/1/1259.zst.15");
    EXPECT_EQ(backup_part_key("b1", ".x", 2), "backup/b1/data/%2Ex.zst.2");
    EXPECT_EQ(backup_part_key(backup_file_key("b1", "base/1/1259"), 3), "backup/b1/data/base/1/1259.zst.3");
    EXPECT_EQ(label_of_backup_key("backup/b1/data/x.zst"), "b1");
    EXPECT_EQ(label_of_backup_key("backup/b1/backup.json"), "b1");
    EXPECT_EQ(label_of_backup_key("wal/00000001.history.zst"), std::nullopt);
    EXPECT_EQ(label_of_backup_key("backup/"), std::nullopt);
    EXPECT_EQ(label_of_backup_key("backup/loose"), std::nullopt);
}

TEST(BackupKeys, LeasesAndPinsSortByTheirTime)
{
    EXPECT_EQ(backup_lease_key("b1", 1795428900), "backup/b1/lease.000001795428900.json");
    EXPECT_EQ(backup_pin_key("b1", 1795428900), "backup/b1/pin.000001795428900.json");
    EXPECT_LT(backup_lease_key("b1", 999999999), backup_lease_key("b1", 1000000000));
    EXPECT_EQ(backup_lease_time("backup/b1/lease.000001795428900.json"), 1795428900);
    EXPECT_EQ(backup_pin_time("backup/b1/pin.000001795428900.json"), 1795428900);
    EXPECT_EQ(backup_pin_time("backup/b1/lease.000001795428900.json"), std::nullopt);
    EXPECT_EQ(backup_lease_time("backup/b1/data/lease.000001795428900.json"), std::nullopt);
    EXPECT_EQ(backup_lease_time("backup/b1/lease.00000179542890x.json"), std::nullopt);
    EXPECT_EQ(backup_lease_time("backup/b1/lease.1795428900.json"), std::nullopt);
    EXPECT_EQ(backup_lease_time("wal/lease.000001795428900.json"), std::nullopt);
}

}  // namespace
}  // namespace walvault

namespace walvault {
namespace {

TEST(StreamPrefixKey, BesideTheSegmentWithItsLengthInHex)
{
    const WalName segment = *parse_wal_name("000000010000000A00000003");
    EXPECT_EQ(
        stream_prefix_key(segment, 0xDBF030), "wal/000000010000000A/000000010000000A00000003.00DBF030.stream.zst");
    EXPECT_EQ(stream_prefix_name(segment, 0x2000), "000000010000000A00000003.00002000.stream");
    const auto parsed = stream_prefix_of_key("wal/000000010000000A/000000010000000A00000003.00DBF030.stream.zst");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->segment.text, "000000010000000A00000003");
    EXPECT_EQ(parsed->length, 0xDBF030U);
}

TEST(StreamPrefixKey, AnythingElseIsNoPrefix)
{
    for (const char* key : {"wal/000000010000000A/000000010000000A00000003.zst",
             "wal/000000010000000A/000000010000000A00000003.partial.zst",
             "wal/000000010000000A/000000010000000A00000003.00000028.backup.zst",
             "wal/000000010000000B/000000010000000A00000003.00DBF030.stream.zst",  // wrong directory
             "wal/000000010000000A/000000010000000A00000003.00dbf030.stream.zst",  // lower case
             "wal/000000010000000A/000000010000000A00000003.00000000.stream.zst",  // empty
             "wal/000000010000000A/000000010000000A00000003.0DBF030.stream.zst",
             "wal/000000010000000A/000000010000000A00000003.00DBF030.stream"})
        EXPECT_FALSE(stream_prefix_of_key(key)) << key;
}

TEST(ReceiveStateKey, TimeInMillisecondsSortsAsKeys)
{
    EXPECT_EQ(receive_state_key("walvault", 1796592608226), "receive/walvault/state.001796592608226.json");
    EXPECT_EQ(receive_state_time("receive/walvault/state.001796592608226.json"), 1796592608226);
    EXPECT_FALSE(receive_state_time("receive/walvault/other.json"));
    EXPECT_FALSE(receive_state_time("backup/walvault/state.001796592608226.json"));
}

}  // namespace
}  // namespace walvault
