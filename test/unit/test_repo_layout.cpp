// Unit tests for core/repo/layout: the object key of each kind of WAL file, exactly as
// docs/repository-format.md lays them out.
#include "core/repo/layout.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace walvault
