// Unit tests for core/config/settings: the checks behind the walvault.repo and walvault.compression
// settings, with the exact messages and hints the module and the tool show.
#include "core/config/settings.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <string>

namespace walvault {
namespace {

using test::TempDir;

constexpr const char* k_not_a_directory_hint = "Point walvault.repo at a directory, or at a path that can be created.";
constexpr const char* k_compression_hint = "Use \"none\", \"zstd\" or \"zstd:LEVEL\" with LEVEL from 1 to 19.";

TEST(CheckRepoSetting, EmptyMeansNotConfigured)
{
    std::string message;
    std::string hint;
    EXPECT_TRUE(check_repo_setting("", true, message, hint));
    EXPECT_TRUE(check_repo_setting("", false, message, hint));
    EXPECT_EQ(message, "");
    EXPECT_EQ(hint, "");
}

TEST(CheckRepoSetting, S3LocationsNeedABucket)
{
    std::string message;
    std::string hint;
    EXPECT_TRUE(check_repo_setting("s3://bucket", true, message, hint));
    EXPECT_TRUE(check_repo_setting("s3://bucket/prod/main", true, message, hint));
    EXPECT_FALSE(check_repo_setting("s3://", true, message, hint));
    EXPECT_EQ(message, "walvault.repo \"s3://\" names no bucket");
    EXPECT_FALSE(check_repo_setting("s3:///prefix", false, message, hint));
    EXPECT_EQ(message, "walvault.repo \"s3:///prefix\" names no bucket");
    EXPECT_EQ(hint, "Use s3://BUCKET/PREFIX, for example \"s3://backups/prod/main\".");
}

TEST(CheckSetting, ChoicesFilesAndEndpoints)
{
    std::string message;
    std::string hint;
    EXPECT_TRUE(check_setting("s3_uri_style", "", true, message, hint));
    EXPECT_TRUE(check_setting("s3_uri_style", "path", true, message, hint));
    EXPECT_FALSE(check_setting("s3_uri_style", "virtual", true, message, hint));
    EXPECT_EQ(message, "unknown walvault.s3_uri_style \"virtual\"");
    EXPECT_EQ(hint, "Valid values are '' (the default), \"host\", \"path\".");
    EXPECT_FALSE(check_setting("s3_sse", "aes256", true, message, hint));
    EXPECT_EQ(message, "unknown walvault.s3_sse \"aes256\"");
    EXPECT_TRUE(check_setting("s3_sse", "aws:kms", true, message, hint));
    EXPECT_TRUE(check_setting("s3_endpoint", "https://minio.internal:9000", true, message, hint));
    EXPECT_TRUE(check_setting("s3_endpoint", "http://127.0.0.1:9000/", true, message, hint));
    for (const char* bad : {"minio:9000", "ftp://host", "https://", "https://host/path", "https://user@host"}) {
        EXPECT_FALSE(check_setting("s3_endpoint", bad, true, message, hint)) << bad;
        EXPECT_EQ(message, std::string("invalid walvault.s3_endpoint \"") + bad + "\"");
    }
    EXPECT_FALSE(check_setting("s3_ca_file", "relative.pem", false, message, hint));
    EXPECT_EQ(message, "walvault.s3_ca_file must be an absolute file path");
    EXPECT_FALSE(check_setting("s3_credentials_file", "/nonexistent/credentials", true, message, hint));
    EXPECT_EQ(message, "could not read file \"/nonexistent/credentials\": No such file or directory");
    EXPECT_TRUE(check_setting("s3_credentials_file", "/nonexistent/credentials", false, message, hint));
    EXPECT_TRUE(check_setting("s3_region", "anything", true, message, hint));
}

TEST(CheckRepoSetting, RelativePathIsRejected)
{
    for (const char* value : {"relative/path", "repo", "./repo", "~/repo", "gs://bucket/wal"}) {
        for (bool check_access : {true, false}) {
            std::string message;
            std::string hint;
            EXPECT_FALSE(check_repo_setting(value, check_access, message, hint)) << value;
            EXPECT_EQ(message, "walvault.repo must be an absolute directory path or s3://BUCKET/PREFIX");
            EXPECT_NE(message.find("walvault.repo"), std::string::npos);
            EXPECT_EQ(hint,
                "Use a path such as \"/var/lib/walvault/main\" or a location such as \"s3://backups/prod/main\".");
        }
    }
}

TEST(CheckRepoSetting, ExistingDirectoryIsAccepted)
{
    TempDir dir;
    std::string message;
    std::string hint;
    EXPECT_TRUE(check_repo_setting(dir.path(), true, message, hint)) << message;
    EXPECT_TRUE(check_repo_setting(dir.path() + "/", true, message, hint)) << message;
    EXPECT_EQ(message, "");
}

TEST(CheckRepoSetting, PathThatCanBeCreatedIsAccepted)
{
    TempDir dir;
    std::string message;
    std::string hint;
    EXPECT_TRUE(check_repo_setting(dir / "repo", true, message, hint)) << message;
    EXPECT_TRUE(check_repo_setting(dir / "a/b/c/repo", true, message, hint)) << message;
    EXPECT_EQ(message, "");
    // Checking does not create anything.
    EXPECT_TRUE(test::dir_entries(dir.path()).empty());
}

TEST(CheckRepoSetting, RegularFileIsNotADirectory)
{
    TempDir dir;
    test::write_file(dir / "file", std::string("x"));
    std::string message;
    std::string hint;
    EXPECT_FALSE(check_repo_setting(dir / "file", true, message, hint));
    EXPECT_EQ(message, "\"" + (dir / "file") + "\" is not a directory");
    EXPECT_EQ(hint, k_not_a_directory_hint);
}

TEST(CheckRepoSetting, PathUnderARegularFileIsRejected)
{
    TempDir dir;
    test::write_file(dir / "file", std::string("x"));
    for (const char* rel : {"file/repo", "file/a/b"}) {
        std::string message;
        std::string hint;
        EXPECT_FALSE(check_repo_setting(dir / rel, true, message, hint)) << rel;
        EXPECT_EQ(message, "\"" + (dir / "file") + "\" is not a directory") << rel;
        EXPECT_EQ(hint, k_not_a_directory_hint);
    }
}

TEST(CheckRepoSetting, WithoutAccessCheckTheFileSystemIsNotLookedAt)
{
    TempDir dir;
    test::write_file(dir / "file", std::string("x"));
    for (const std::string& value : {dir / "file", dir / "file/repo", std::string("/nonexistent/walvault/repo")}) {
        std::string message;
        std::string hint;
        EXPECT_TRUE(check_repo_setting(value, false, message, hint)) << value;
        EXPECT_EQ(message, "");
    }
}

TEST(CheckCompressionSetting, ValidValues)
{
    for (const char* value : {"none", "zstd", "zstd:1", "zstd:3", "zstd:19", k_default_compression}) {
        std::string message;
        std::string hint;
        EXPECT_TRUE(check_compression_setting(value, message, hint)) << value;
        EXPECT_EQ(message, "");
        EXPECT_EQ(hint, "");
    }
}

TEST(CheckCompressionSetting, Messages)
{
    const std::string unknown_tail = "\"; valid values are \"none\", \"zstd\" and \"zstd:LEVEL\"";
    const std::pair<const char*, std::string> cases[] = {
        {"zstd:0", "zstd level must be between 1 and 19"},
        {"zstd:20", "zstd level must be between 1 and 19"},
        {"zstd:", "zstd level must be between 1 and 19"},
        {"zstd:3x", "zstd level must be between 1 and 19"},
        {"none:1", "\"none\" takes no level"},
        {"lz4", "unknown compression \"lz4" + unknown_tail},
        {"", "unknown compression \"" + unknown_tail},
    };
    for (const auto& [value, expected] : cases) {
        std::string message;
        std::string hint;
        EXPECT_FALSE(check_compression_setting(value, message, hint)) << value;
        EXPECT_EQ(message, expected) << value;
        EXPECT_EQ(hint, k_compression_hint) << value;
    }
}

TEST(Settings, Defaults)
{
    const auto parsed = Compression::parse(k_default_compression, nullptr);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->to_string(), "zstd:3");
    const Settings settings;
    EXPECT_EQ(settings.repo, "");
    EXPECT_EQ(settings.compression, *parsed);
    EXPECT_EQ(settings.parallel, k_default_parallel);
    EXPECT_GE(k_default_parallel, 1);
    EXPECT_LE(k_default_parallel, k_max_parallel);
}

}  // namespace
}  // namespace walvault
