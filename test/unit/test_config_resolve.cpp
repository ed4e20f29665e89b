// Unit tests for core/config/resolve: config-file syntax, precedence flag > environment > file, and
// errors that name where a bad value came from.
#include "core/config/resolve.h"

#include "test/unit/test_support.h"

#include <fstream>

#include <gtest/gtest.h>

namespace walvault {
namespace {

using Env = std::map<std::string, std::string>;

std::function<std::optional<std::string>(const std::string&)> env_of(const Env& env)
{
    return [env](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

std::string write_temp_config(const std::string& text)
{
    char path[] = "/tmp/walvault-conf-XXXXXX";
    const int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream(path) << text;
    return path;
}

TEST(ConfigFile, SyntaxCommentsQuotesAndPrefix)
{
    ResolvedSettings out;
    WV_ASSERT_OK(parse_config_file("/etc/w.conf",
        "# walvault\n\nrepo = '/var/lib/walvault/main'\n  walvault.s3_region=eu-west-1 \ns3_profile = \"prod\"\n"
        "s3_endpoint =\n",
        out));
    EXPECT_EQ(out["repo"].value, "/var/lib/walvault/main");
    EXPECT_EQ(out["repo"].source, "/etc/w.conf:3");
    EXPECT_EQ(out["s3_region"].value, "eu-west-1");
    EXPECT_EQ(out["s3_region"].source, "/etc/w.conf:4");
    EXPECT_EQ(out["s3_profile"].value, "prod");
    EXPECT_EQ(out["s3_endpoint"].value, "");
}

TEST(ConfigFile, ErrorsNameFileAndLine)
{
    ResolvedSettings out;
    Status s = parse_config_file("/etc/w.conf", "repo = /x\ncompresion = zstd\n", out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "unknown setting \"compresion\" in \"/etc/w.conf:2\"");
    s = parse_config_file("/etc/w.conf", "\n\nrepo /x\n", out);
    EXPECT_EQ(s.message(), "syntax error in \"/etc/w.conf:3\": expected name = value");
}

TEST(ResolveSettings, FlagBeatsEnvironmentBeatsFile)
{
    const std::string conf = write_temp_config("repo = /from/file\ns3_region = file-region\ns3_profile = file\n");
    ResolvedSettings out;
    WV_ASSERT_OK(resolve_settings({{"repo", "/from/flag"}}, conf,
        env_of({{"WALVAULT_REPO", "/from/env"}, {"WALVAULT_S3_REGION", "env-region"}}), out));
    EXPECT_EQ(out["repo"].value, "/from/flag");
    EXPECT_EQ(out["repo"].source, "--repo");
    EXPECT_EQ(out["s3_region"].value, "env-region");
    EXPECT_EQ(out["s3_region"].source, "WALVAULT_S3_REGION");
    EXPECT_EQ(out["s3_profile"].value, "file");
    EXPECT_EQ(out["s3_profile"].source, conf + ":3");
    ::unlink(conf.c_str());
}

TEST(ResolveSettings, ConfigFileFromEnvironmentMustExist)
{
    ResolvedSettings out;
    const Status s = resolve_settings({}, "", env_of({{"WALVAULT_CONFIG", "/nonexistent/walvault.conf"}}), out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "could not read config file \"/nonexistent/walvault.conf\": No such file or directory");
}

TEST(ResolveSettings, BadValuesNameTheirSource)
{
    ResolvedSettings out;
    Status s = resolve_settings({}, "", env_of({{"WALVAULT_REPO", "relative/dir"}}), out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(
        s.message(), "walvault.repo must be an absolute directory path or s3://BUCKET/PREFIX (from WALVAULT_REPO)");
    s = resolve_settings({{"s3_uri_style", "virtual"}}, "", env_of({}), out);
    EXPECT_EQ(s.message(), "unknown walvault.s3_uri_style \"virtual\" (from --s3_uri_style)");
    s = resolve_settings({{"s3_part_size", "64MB"}}, "", env_of({}), out);
    EXPECT_EQ(s.message(), "s3_part_size must be a number of megabytes (from --s3_part_size)");
}

TEST(ResolveSettings, StorageOptionsCarryEverySetting)
{
    ResolvedSettings out;
    WV_ASSERT_OK(
        resolve_settings({{"repo", "s3://b/p"}, {"s3_endpoint", "http://127.0.0.1:9000"}, {"s3_part_size", "64"},
                             {"s3_sse", "AES256"}, {"s3_storage_class", "STANDARD_IA"}},
            "", env_of({{"WALVAULT_S3_PROFILE", "prod"}}), out));
    const StorageOptions o = storage_options(out);
    EXPECT_EQ(setting(out, "repo"), "s3://b/p");
    EXPECT_EQ(o.s3_endpoint, "http://127.0.0.1:9000");
    EXPECT_EQ(o.s3_part_size, 64ULL * 1024 * 1024);
    EXPECT_EQ(o.s3_sse, "AES256");
    EXPECT_EQ(o.s3_storage_class, "STANDARD_IA");
    EXPECT_EQ(o.s3_profile, "prod");
    EXPECT_EQ(o.s3_region, "");
}

}  // namespace
}  // namespace walvault
