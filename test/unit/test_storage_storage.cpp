// Unit tests for core/storage/storage: the table of backends keyed by scheme, and open_storage choosing a
// backend from a walvault.repo value, with the exact messages for an unset or unsupported location.
#include "core/storage/storage.h"

#include "core/config/settings.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <set>

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

// Every row of the scheme table is complete and is what both open_storage() and the walvault.repo check
// use: its example is recognised as its own, passes the check and opens a storage at that location, and
// its form is named in the messages for a value no row recognises.
TEST(StorageSchemes, EveryRowIsUsedByTheFactoryAndTheSettingCheck)
{
    ASSERT_FALSE(storage_schemes().empty());
    std::set<std::string> names;
    std::set<std::string> prefixes;
    StorageOptions options;
    options.getenv = [](const std::string&) { return std::nullopt; };  // nothing from the machine
    std::string message;
    std::string hint;
    for (const StorageScheme& row : storage_schemes()) {
        SCOPED_TRACE(row.name);
        EXPECT_TRUE(names.insert(row.name).second) << "names are unique";
        EXPECT_TRUE(prefixes.insert(row.prefix).second) << "prefixes are unique";
        ASSERT_NE(row.check, nullptr);
        ASSERT_NE(row.open, nullptr);
        EXPECT_EQ(std::string(row.example).rfind(row.prefix, 0), 0u);
        EXPECT_EQ(find_storage_scheme(row.example), &row);
        EXPECT_TRUE(row.check(row.example, false, message, hint)) << message;
        EXPECT_TRUE(check_repo_setting(row.example, false, message, hint)) << message;
        std::unique_ptr<Storage> storage;
        WV_ASSERT_OK(open_storage(row.example, options, storage));
        ASSERT_NE(storage, nullptr);
        EXPECT_EQ(storage->location(), row.example);
        EXPECT_NE(storage_scheme_forms().find(row.form), std::string::npos);
        EXPECT_NE(storage_scheme_examples().find(std::string(row.example_noun) + " such as \"" + row.example + "\""),
            std::string::npos);
    }
    EXPECT_EQ(storage_scheme_forms(), "an absolute directory path or s3://BUCKET/PREFIX");
    EXPECT_EQ(storage_scheme_examples(),
        "a path such as \"/var/lib/walvault/main\" or a location such as \"s3://backups/prod/main\"");

    // A value no row recognises: the factory and the setting check both name every form.
    for (const char* repo : {"relative/path", "gs://bucket/wal", "S3://upper/case", ""}) {
        SCOPED_TRACE(repo);
        EXPECT_EQ(find_storage_scheme(repo), nullptr);
        if (*repo == '\0')
            continue;  // empty: "not set", not "unsupported"
        std::unique_ptr<Storage> storage;
        EXPECT_EQ(open_storage(repo, options, storage).hint(), "walvault.repo must be " + storage_scheme_forms() + ".");
        EXPECT_FALSE(check_repo_setting(repo, false, message, hint));
        EXPECT_EQ(message, "walvault.repo must be " + storage_scheme_forms());
        EXPECT_EQ(hint, "Use " + storage_scheme_examples() + ".");
    }
}

TEST(StorageSchemes, SchemesCheckTheirOwnForm)
{
    std::string message;
    std::string hint;
    const StorageScheme* s3 = find_storage_scheme("s3://b");
    ASSERT_NE(s3, nullptr);
    EXPECT_EQ(std::string(s3->name), "s3");
    EXPECT_FALSE(s3->check("s3:///prefix", false, message, hint));
    EXPECT_EQ(message, "walvault.repo \"s3:///prefix\" names no bucket");
    const StorageScheme* posix = find_storage_scheme("/x");
    ASSERT_NE(posix, nullptr);
    EXPECT_EQ(std::string(posix->name), "posix");
    test::TempDir dir;
    test::write_file(dir / "file", std::string("x"));
    EXPECT_FALSE(posix->check(dir / "file/repo", true, message, hint));
    EXPECT_EQ(message, "\"" + (dir / "file") + "\" is not a directory");
    EXPECT_TRUE(posix->check(dir / "file/repo", false, message, hint)) << "no access check asked for";
    EXPECT_TRUE(posix->check(dir / "new/repo", true, message, hint)) << message;
}

}  // namespace
}  // namespace walvault
