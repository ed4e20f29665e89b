// Unit tests for core/config/resolve: config-file syntax, precedence flag > environment > file, and
// errors that name where a bad value came from.
#include "core/config/resolve.h"

#include "core/config/settings.h"

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
        env_of({{"WALVAULT_REPO", "/from/env"}, {"WALVAULT_S3_REGION", "env-region"}}), k_use_list, out));
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
    const Status s =
        resolve_settings({}, "", env_of({{"WALVAULT_CONFIG", "/nonexistent/walvault.conf"}}), k_use_list, out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "could not read config file \"/nonexistent/walvault.conf\": No such file or directory");
}

TEST(ResolveSettings, BadValuesNameTheirSource)
{
    ResolvedSettings out;
    Status s = resolve_settings({}, "", env_of({{"WALVAULT_REPO", "relative/dir"}}), k_use_list, out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(
        s.message(), "walvault.repo must be an absolute directory path or s3://BUCKET/PREFIX (from WALVAULT_REPO)");
    s = resolve_settings({{"s3_uri_style", "virtual"}}, "", env_of({}), k_use_list, out);
    EXPECT_EQ(s.message(), "unknown walvault.s3_uri_style \"virtual\" (from --s3_uri_style)");
    s = resolve_settings({{"s3_part_size", "64mb"}}, "", env_of({}), k_use_backup, out);
    EXPECT_EQ(s.message(), "s3_part_size must be a number of MB from 0 to 5120, not \"64mb\" (from --s3_part_size)");
    s = resolve_settings({{"s3_part_size", "4"}}, "", env_of({}), k_use_backup, out);
    EXPECT_EQ(s.message(), "S3 parts are at least 5MB. (from --s3_part_size)");
    s = resolve_settings({{"s3_part_size", "4096kB"}}, "", env_of({}), k_use_backup, out);
    EXPECT_EQ(s.message(), "S3 parts are at least 5MB. (from --s3_part_size)");
    s = resolve_settings({}, "", env_of({{"WALVAULT_PARALLEL", "17"}}), k_use_restore, out);
    EXPECT_EQ(s.message(), "parallel must be a number from 1 to 16, not \"17\" (from WALVAULT_PARALLEL)");
    EXPECT_EQ(s.hint(), "The default is 2.");
    s = resolve_settings({{"prefetch", "-1"}}, "", env_of({}), k_use_wal_fetch, out);
    EXPECT_EQ(s.message(), "prefetch must be a number from 0 to 1024, not \"-1\" (from --prefetch)");
    s = resolve_settings({{"part_size", "0"}}, "", env_of({}), k_use_backup, out);
    EXPECT_EQ(s.message(), "part_size must be a number of MB from 1 to 1024, not \"0\" (from --part_size)");
}

TEST(ResolveSettings, IntegersWithUnitsAreKeptInTheSettingsUnit)
{
    ResolvedSettings out;
    WV_ASSERT_OK(
        resolve_settings({{"part_size", "1GB"}, {"s3_part_size", "16384kB"}}, "", env_of({}), k_use_backup, out));
    EXPECT_EQ(setting(out, "part_size"), "1024");
    EXPECT_EQ(setting_int(out, "part_size"), 1024);
    EXPECT_EQ(setting(out, "s3_part_size"), "16");
}

TEST(ResolveSettings, StorageOptionsCarryTheBackendsSettings)
{
    ResolvedSettings out;
    WV_ASSERT_OK(
        resolve_settings({{"repo", "s3://b/p"}, {"s3_endpoint", "http://127.0.0.1:9000"}, {"s3_part_size", "64"},
                             {"s3_sse", "AES256"}, {"s3_storage_class", "STANDARD_IA"}, {"parallel", "4"}},
            "", env_of({{"WALVAULT_S3_PROFILE", "prod"}}), k_use_backup, out));
    const StorageOptions o = storage_options(out);
    EXPECT_EQ(setting(out, "repo"), "s3://b/p");
    EXPECT_EQ(o.settings,
        (std::map<std::string, std::string>{{"s3_endpoint", "http://127.0.0.1:9000"}, {"s3_part_size", "64"},
            {"s3_profile", "prod"}, {"s3_sse", "AES256"}, {"s3_storage_class", "STANDARD_IA"}}));
    EXPECT_EQ(setting_int(out, "parallel"), 4);
    EXPECT_EQ(setting_int(out, "part_size"), 64);  // not given: the default
}

// One config file serves every command: what a command does not read is neither taken nor checked, and its
// environment variables are not read either.
TEST(ResolveSettings, EachCommandTakesOnlyItsOwnSettings)
{
    const std::string conf =
        write_temp_config("repo = /var/lib/walvault/main\ncompression = zstd:99\nprefetch = 4\npart_size = 8\n");
    ResolvedSettings out;
    WV_ASSERT_OK(resolve_settings({}, conf, env_of({{"WALVAULT_S3_SSE", "bogus"}}), k_use_list, out));
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(setting(out, "repo"), "/var/lib/walvault/main");
    WV_ASSERT_OK(resolve_settings({}, conf, env_of({}), k_use_wal_fetch, out));
    EXPECT_EQ(setting_int(out, "prefetch"), 4);
    EXPECT_EQ(setting(out, "part_size"), "");
    const Status s = resolve_settings({}, conf, env_of({}), k_use_backup, out);
    EXPECT_EQ(s.message(), "zstd level must be between 1 and 19 (from " + conf + ":2)");
    ::unlink(conf.c_str());

    auto names = [](unsigned use) {
        std::vector<std::string> out;
        for (const SettingDef* def : tool_settings(use))
            out.push_back(def->name);
        return out;
    };
    const std::vector<std::string> s3_read = {
        "s3_endpoint", "s3_region", "s3_uri_style", "s3_ca_file", "s3_credentials_file", "s3_profile"};
    std::vector<std::string> list = {"repo"};
    list.insert(list.end(), s3_read.begin(), s3_read.end());
    // The readers of objects take the identity file; writers the recipients.
    std::vector<std::string> reader = {"repo", "encryption_identity_file"};
    reader.insert(reader.end(), s3_read.begin(), s3_read.end());
    EXPECT_EQ(names(k_use_list), reader);
    std::vector<std::string> deletion = {"repo", "lease_timeout"};
    deletion.insert(deletion.end(), s3_read.begin(), s3_read.end());
    EXPECT_EQ(names(k_use_backup_delete), deletion);
    EXPECT_EQ(names(k_use_pin), list);
    EXPECT_EQ(names(k_use_check), reader);
    std::vector<std::string> expire = {"repo", "parallel", "retain_full", "retain_window", "lease_timeout"};
    expire.insert(expire.end(), s3_read.begin(), s3_read.end());
    EXPECT_EQ(names(k_use_expire), expire);
    std::vector<std::string> verify = {"repo", "parallel", "encryption_identity_file"};
    verify.insert(verify.end(), s3_read.begin(), s3_read.end());
    EXPECT_EQ(names(k_use_verify), verify);
    EXPECT_EQ(names(k_use_wal_push),
        (std::vector<std::string>{"repo", "compression", "encryption_recipients", "encryption_identity_file",
            "s3_endpoint", "s3_region", "s3_uri_style", "s3_ca_file", "s3_sse", "s3_sse_kms_key_id", "s3_storage_class",
            "s3_credentials_file", "s3_profile", "s3_part_size"}));
    std::vector<std::string> fetch = {"repo", "parallel", "prefetch", "encryption_identity_file"};
    fetch.insert(fetch.end(), s3_read.begin(), s3_read.end());
    EXPECT_EQ(names(k_use_wal_fetch), fetch);
    std::vector<std::string> restore = {
        "repo", "parallel", "prefetch", "encryption_recipients", "encryption_identity_file"};
    restore.insert(restore.end(), s3_read.begin(), s3_read.end());
    EXPECT_EQ(names(k_use_restore), restore);  // the recipients: for the old pg_wal that --force archives first
    EXPECT_EQ(names(k_use_receive),
        (std::vector<std::string>{"repo", "compression", "encryption_recipients", "encryption_identity_file", "slot",
            "receive_flush_interval", "receive_flush_bytes", "s3_endpoint", "s3_region", "s3_uri_style", "s3_ca_file",
            "s3_sse", "s3_sse_kms_key_id", "s3_storage_class", "s3_credentials_file", "s3_profile", "s3_part_size"}));
    EXPECT_EQ(names(k_use_backup),
        (std::vector<std::string>{"repo", "compression", "parallel", "part_size", "retain_full", "retain_window",
            "lease_timeout", "encryption_recipients", "s3_endpoint", "s3_region", "s3_uri_style", "s3_ca_file",
            "s3_sse", "s3_sse_kms_key_id", "s3_storage_class", "s3_credentials_file", "s3_profile", "s3_part_size"}));
}

TEST(ConfigFile, ModuleOnlySettingIsNamedAsSuch)
{
    ResolvedSettings out;
    const Status s = parse_config_file("/etc/w.conf", "walvault.shutdown_timeout = 5s\n", out);
    EXPECT_EQ(s.message(), "setting \"shutdown_timeout\" in \"/etc/w.conf:1\" is read by the archive module only");
    EXPECT_EQ(s.hint(), "Set walvault.shutdown_timeout in postgresql.conf; the walvault tool does not use it.");
}

}  // namespace
}  // namespace walvault
