// Unit tests for core/config/settings: the checks behind the walvault.repo and walvault.compression
// settings, with the exact messages and hints the module and the tool show.
#include "core/config/settings.h"

#include "core/storage/storage.h"
#include "module/bridge.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <cctype>
#include <climits>
#include <set>
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
    for (const char* value : {"none", "zstd", "zstd:1", "zstd:3", "zstd:19"}) {
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

// encryption_recipients: age recipients separated by commas; encryption_identity_file: "-" or an absolute
// path, which restore_command can use from the data directory.
TEST(CheckEncryptionSettings, RecipientsAndIdentityFile)
{
    const std::string r1 = "age1ercrvkx5u2jzqhyrkmyqsr04amdx2kcffpvyg53fr0nh7q7uyeas99ry8g";
    const std::string r2 = "age1qkl76vf23t57v7lwrjq5c3qjtg7c5vktjmjsyyfnwu3ckv0g39sqy828tf";
    std::string message;
    std::string hint;
    for (const std::string& ok : {std::string(), r1, r1 + "," + r2, r1 + ", " + r2})
        EXPECT_TRUE(check_setting("encryption_recipients", ok, false, message, hint)) << ok << ": " << message;
    EXPECT_FALSE(check_setting("encryption_recipients", r1 + ",", false, message, hint));
    EXPECT_EQ(message, "walvault.encryption_recipients: empty item in the list of age recipients");
    EXPECT_EQ(hint, "Separate the recipients with single commas.");
    std::string typo = r1;
    typo[20] = typo[20] == 'q' ? 'p' : 'q';
    EXPECT_FALSE(check_setting("encryption_recipients", typo, false, message, hint));
    EXPECT_EQ(message,
        "walvault.encryption_recipients: invalid age recipient \"" + typo +
            "\": bech32 checksum mismatch (a mistyped or truncated key)");

    for (const char* ok : {"", "-", "/etc/walvault/key.txt"})
        EXPECT_TRUE(check_setting("encryption_identity_file", ok, false, message, hint)) << ok;
    EXPECT_FALSE(check_setting("encryption_identity_file", "key.txt", false, message, hint));
    EXPECT_EQ(message, "walvault.encryption_identity_file must be an absolute path or \"-\"");
    // The identity file is the tool's alone: never a GUC.
    EXPECT_FALSE(find_setting("encryption_identity_file")->is_guc());
    EXPECT_TRUE(find_setting("encryption_recipients")->is_guc());
}

// The declarations themselves: every row is complete and consistent, so each GUC, flag and docs row made
// from it is too.
TEST(Settings, EveryDeclarationIsComplete)
{
    std::set<std::string> names;
    size_t gucs = 0;
    for (const SettingDef& def : all_settings()) {
        SCOPED_TRACE(def.name);
        EXPECT_TRUE(names.insert(def.name).second) << "declared twice";
        EXPECT_NE(def.uses, 0u) << "read by nothing";
        const std::string help = def.help;
        EXPECT_FALSE(help.empty());
        EXPECT_NE(help.back(), '.') << "help is one line without a final period";
        EXPECT_TRUE(std::islower(static_cast<unsigned char>(help.front())) || help.front() == 'S' ||
            help.front() == 'P' || help.front() == 'K' || help.front() == 'W')
            << help;
        std::string message, hint;
        EXPECT_TRUE(check_setting_value(def, def.default_value, false, message, hint)) << message;
        EXPECT_TRUE(check_setting_value(def, def.default_for_tool(), false, message, hint)) << message;
        if (def.type == SettingType::integer) {
            EXPECT_LE(def.min, def.max);
            EXPECT_GE(def.min, INT32_MIN);  // GUC integers are ints
            EXPECT_LE(def.max, INT32_MAX);
        } else {
            EXPECT_EQ(def.unit, SettingUnit::none);
        }
        if (def.backend != nullptr) {
            bool found = false;
            for (const StorageScheme& scheme : storage_schemes())
                found = found || std::string(scheme.name) == def.backend;
            EXPECT_TRUE(found) << "no storage scheme " << def.backend;
            EXPECT_EQ(std::string(def.name).rfind(std::string(def.backend) + "_", 0), 0u)
                << "a backend's settings are named after it";
        }
        gucs += def.is_guc() ? 1 : 0;
    }
    EXPECT_LE(gucs, static_cast<size_t>(WV_MAX_SETTINGS)) << "the shim has WV_MAX_SETTINGS check-hook slots";
    for (const char* name : {"repo", "shutdown_timeout"})  // read by module/walvault.c itself
        EXPECT_TRUE(find_setting(name) != nullptr && find_setting(name)->is_guc()) << name;
}

TEST(Settings, Defaults)
{
    EXPECT_EQ(std::string(find_setting("compression")->default_value), "zstd:3");
    EXPECT_EQ(setting_default_int("parallel", false), 8);  // the archiver's
    EXPECT_EQ(setting_default_int("parallel", true), 2);   // the tool's
    EXPECT_EQ(setting_default_int("prefetch", true), 16);
    EXPECT_EQ(setting_default_int("shutdown_timeout", false), 5000);
    EXPECT_EQ(find_setting("parallel")->max, k_max_parallel);
    EXPECT_EQ(find_setting("no_such_setting"), nullptr);
    std::string message, hint;
    EXPECT_FALSE(check_setting("no_such_setting", "x", false, message, hint));
    EXPECT_EQ(message, "unknown setting \"no_such_setting\"");
}

}  // namespace
}  // namespace walvault
