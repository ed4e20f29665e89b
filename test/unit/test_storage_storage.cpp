// Unit tests for core/storage/storage: open_storage choosing a backend from a walvault.repo value, with
// the exact messages for an unset or unsupported location.
#include "core/storage/storage.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

namespace walvault {
namespace {

TEST(OpenStorage, EmptyIsNotSet)
{
    std::unique_ptr<Storage> storage;
    const Status s = open_storage("", storage);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "walvault.repo is not set");
    EXPECT_EQ(s.hint(), "Set walvault.repo to the repository location, for example \"/var/lib/walvault/main\".");
    EXPECT_EQ(storage, nullptr);
}

TEST(OpenStorage, AbsolutePathIsPosix)
{
    std::unique_ptr<Storage> storage;
    WV_ASSERT_OK(open_storage("/var/lib/walvault/main/", storage));
    ASSERT_NE(storage, nullptr);
    EXPECT_EQ(storage->location(), "/var/lib/walvault/main");
    EXPECT_EQ(storage->location("wal/00000002.history.zst"), "/var/lib/walvault/main/wal/00000002.history.zst");
}

TEST(OpenStorage, OtherLocationsAreUnsupported)
{
    for (const char* repo : {"relative/path", "gs://bucket/wal", "~/repo"}) {
        std::unique_ptr<Storage> storage;
        const Status s = open_storage(repo, storage);
        EXPECT_EQ(s.code(), Code::invalid) << repo;
        EXPECT_EQ(s.message(), std::string("unsupported repository location \"") + repo + "\"");
        EXPECT_EQ(s.hint(), "walvault.repo must be an absolute directory path or s3://BUCKET/PREFIX.");
        EXPECT_EQ(storage, nullptr);
    }
}

}  // namespace
}  // namespace walvault
