// Unit tests for core/storage/s3/credentials: the INI parser, the profile rules and endpoint timestamps; the order
// of the chain with every source present; errors of half-set sources, with no secret in any message; and the
// container and IMDSv2 endpoints against test/unit/data/imds_stub.py on 127.0.0.1 (refresh, one fetch at a time).
#include "core/storage/s3/credentials.h"

#include "core/http/http_client.h"
#include "test/unit/test_support.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace walvault {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;
using test::TempDir;
using test::write_file;

constexpr const char* k_stub_relative = "test/unit/data/imds_stub.py";
constexpr const char* k_python = "/usr/bin/python3";
constexpr auto k_stub_start_timeout = std::chrono::seconds(10);
constexpr const char* k_container_token = "container-auth-token-SECRET-7f3a";

// ---- helpers --------------------------------------------------------------------------------------------

// An environment the test owns: the provider never sees the real one.
class FakeEnv {
public:
    void set(const std::string& name, const std::string& value)
    {
        std::lock_guard lock(m_mutex);
        m_vars[name] = value;
    }
    void unset(const std::string& name)
    {
        std::lock_guard lock(m_mutex);
        m_vars.erase(name);
    }
    EnvLookup lookup()
    {
        return [this](const std::string& name) -> std::optional<std::string> {
            std::lock_guard lock(m_mutex);
            const auto it = m_vars.find(name);
            if (it == m_vars.end())
                return std::nullopt;
            return it->second;
        };
    }

private:
    std::mutex m_mutex;
    std::map<std::string, std::string> m_vars;
};

// Real time plus an offset the test moves forward.
class FakeClock {
public:
    void advance(std::chrono::seconds by) { m_offset_s += by.count(); }
    WallClock now()
    {
        return [this] { return system_clock::now() + std::chrono::seconds(m_offset_s.load()); };
    }

private:
    std::atomic<int64_t> m_offset_s{0};
};

std::string stub_script()
{
    const char* source_dir = std::getenv("WALVAULT_SOURCE_DIR");
    if (source_dir != nullptr)
        return std::string(source_dir) + "/" + k_stub_relative;
    return k_stub_relative;
}

// test/unit/data/imds_stub.py as a child process: started with its arguments, its port read from its stdout,
// stopped by PID. Its stdin is a pipe we hold, so it exits by itself if this process dies.
class StubProcess {
public:
    ~StubProcess() { stop(); }

    bool start(const std::vector<std::string>& args, std::string& error)
    {
        const std::string script = stub_script();
        if (!test::file_exists(script)) {
            error = "stub script " + script + " not found (run from the source directory or set WALVAULT_SOURCE_DIR)";
            return false;
        }
        int in_pipe[2], out_pipe[2];
        if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
            error = "pipe failed";
            return false;
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
        posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
        std::vector<std::string> argv_strings = {k_python, script};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (std::string& s : argv_strings)
            argv.push_back(s.data());
        argv.push_back(nullptr);
        const int rc = ::posix_spawn(&m_pid, k_python, &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(in_pipe[0]);
        ::close(out_pipe[1]);
        m_stdin = in_pipe[1];
        if (rc != 0) {
            m_pid = -1;
            ::close(out_pipe[0]);
            error = std::string("could not start ") + k_python + ": " + errno_text(rc);
            return false;
        }
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + k_stub_start_timeout;
        while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
            pollfd pfd{out_pipe[0], POLLIN, 0};
            if (::poll(&pfd, 1, 100) <= 0)
                continue;
            char buffer[64];
            const ssize_t n = ::read(out_pipe[0], buffer, sizeof(buffer));
            if (n <= 0)
                break;
            line.append(buffer, static_cast<size_t>(n));
        }
        ::close(out_pipe[0]);
        m_port = std::atoi(line.c_str());
        if (m_port <= 0) {
            error = "the stub did not print its port";
            stop();
            return false;
        }
        return true;
    }

    void stop()
    {
        if (m_stdin >= 0) {
            ::close(m_stdin);
            m_stdin = -1;
        }
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_pid = -1;
        }
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

    HttpResponse request(const std::string& method, const std::string& path, const HttpHeaders& headers = {}) const
    {
        HttpOptions options;
        options.connect_timeout = 2s;
        options.request_timeout = 5s;
        HttpClient client(options);
        HttpRequest req;
        req.method = method;
        req.url = url() + path;
        req.headers = headers;
        HttpResponse response;
        const Status st = client.perform(req, response);
        EXPECT_TRUE(st.is_ok()) << st.message();
        return response;
    }

    // Request counts: token_puts, token_puts_without_ttl, unauthorized, role_lists, role_gets, container_gets.
    std::map<std::string, int> stats() const
    {
        const nlohmann::json doc = nlohmann::json::parse(request("GET", "/stats").body, nullptr, false);
        std::map<std::string, int> out;
        if (doc.is_object())
            for (const auto& [key, value] : doc.items())
                out[key] = value.get<int>();
        return out;
    }

private:
    pid_t m_pid = -1;
    int m_stdin = -1;
    int m_port = 0;
};

std::string credentials_ini(const std::string& section, const std::string& id, const std::string& secret)
{
    return "[" + section + "]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n";
}

void expect_no_secret(const Status& st, const std::vector<std::string>& secrets)
{
    for (const std::string& secret : secrets) {
        EXPECT_EQ(st.message().find(secret), std::string::npos) << "secret in message: " << st.message();
        EXPECT_EQ(st.hint().find(secret), std::string::npos) << "secret in hint: " << st.hint();
    }
}

// Every test starts from an empty home and with instance metadata off: no test may reach 169.254.169.254.
class CredentialTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_env.set("HOME", m_home.path());
        m_env.set("AWS_EC2_METADATA_DISABLED", "true");
        std::filesystem::create_directories(m_home / ".aws");
    }
    void TearDown() override { m_stub.stop(); }

    CredentialOptions options()
    {
        CredentialOptions o;
        o.getenv = m_env.lookup();
        o.now = m_clock.now();
        return o;
    }

    Status get(AwsCredentials& out, CredentialOptions o)
    {
        CredentialProvider provider(std::move(o));
        return provider.get(out);
    }

    void start_stub(const std::vector<std::string>& args)
    {
        std::string error;
        ASSERT_TRUE(m_stub.start(args, error)) << error;
    }

    // Instance metadata on the stub instead of off.
    void use_stub_imds()
    {
        m_env.unset("AWS_EC2_METADATA_DISABLED");
        m_env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", m_stub.url());
    }

    TempDir m_home;
    FakeEnv m_env;
    FakeClock m_clock;
    StubProcess m_stub;
};

// ---- the pieces -----------------------------------------------------------------------------------------

TEST(CredentialIniTest, ParsesSectionsKeysCommentsAndSpacing)
{
    const std::string text = std::string("\xEF\xBB\xBF") +  // BOM
        "# a comment\r\n"
        "; another\n"
        "\n"
        "[default]   # after the header\n"
        "AWS_Access_Key_ID=AKIADEFAULT\n"
        "\taws_secret_access_key   =   s3cr3t/with+slash=   \n"
        "aws_session_token = tok#en ; inline comment\n"
        "empty =\n"
        "s3 =\n"
        "    max_concurrent_requests = 20\n"
        "    aws_access_key_id = NESTED\n"
        "region = eu-west-1\n"
        "[  spaced name  ]\r\n"
        "  key = value\n"
        "[default]\n"
        "region = us-east-2";  // no final newline
    IniSections sections;
    WV_ASSERT_OK(parse_aws_ini(text, sections));
    ASSERT_EQ(sections.size(), 2u);
    const auto& d = sections.at("default");
    EXPECT_EQ(d.at("aws_access_key_id"), "AKIADEFAULT");  // not NESTED: that is a sub-setting of s3
    EXPECT_EQ(d.at("aws_secret_access_key"), "s3cr3t/with+slash=");
    EXPECT_EQ(d.at("aws_session_token"), "tok#en");
    EXPECT_EQ(d.at("empty"), "");
    EXPECT_EQ(d.at("s3"), "");
    EXPECT_EQ(d.count("max_concurrent_requests"), 0u);
    EXPECT_EQ(d.at("region"), "us-east-2");  // the repeated section merges, the later value wins
    EXPECT_EQ(sections.at("spaced name").at("key"), "value");

    WV_EXPECT_OK(parse_aws_ini("", sections));
    EXPECT_TRUE(sections.empty());
}

TEST(CredentialIniTest, RejectsMalformedLinesNamingOnlyTheLineNumber)
{
    const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const struct {
        std::string text;
        std::string message;
    } cases[] = {
        {"aws_access_key_id = AKIA\n", "line 1: setting before the first section header"},
        {"[default]\naws_access_key_id = AKIA\n" + secret + "\n", "line 3: expected \"name = value\""},
        {"[default\n", "line 1: section header without \"]\""},
        {"\n[ ]\n", "line 2: empty section name"},
        {"[default] " + secret + "\n", "line 1: unexpected text after the section header"},
        {"[default]\n = " + secret + "\n", "line 2: setting without a name"},
    };
    for (const auto& c : cases) {
        IniSections sections;
        const Status st = parse_aws_ini(c.text, sections);
        EXPECT_EQ(st.code(), Code::invalid) << c.text;
        EXPECT_EQ(st.message(), c.message);
        expect_no_secret(st, {secret});
    }
}

TEST(CredentialProfileTest, CredentialsFileAndConfigFileNameProfilesDifferently)
{
    IniSections sections;
    WV_ASSERT_OK(parse_aws_ini("[default]\nk = plain-default\n"
                               "[work]\nk = plain-work\n"
                               "[profile   work]\nk = prefixed-work\n"
                               "[profile other]\nk = prefixed-other\n"
                               "[profileother]\nk = no-space\n",
        sections));
    auto value = [&](const std::string& profile, bool config) -> std::string {
        const auto* section = find_profile(sections, profile, config);
        return section == nullptr ? "(none)" : section->at("k");
    };
    // Credentials file: the section name is the profile name, "profile" is no keyword.
    EXPECT_EQ(value("default", false), "plain-default");
    EXPECT_EQ(value("work", false), "plain-work");
    EXPECT_EQ(value("other", false), "(none)");
    EXPECT_EQ(value("profile other", false), "prefixed-other");
    // Config file: "[profile NAME]"; a bare "[NAME]" is no profile, except "[default]".
    EXPECT_EQ(value("default", true), "plain-default");
    EXPECT_EQ(value("work", true), "prefixed-work");
    EXPECT_EQ(value("other", true), "prefixed-other");
    EXPECT_EQ(value("profileother", true), "(none)");

    WV_ASSERT_OK(parse_aws_ini("[default]\nk = plain\n[profile default]\nk = prefixed\n", sections));
    EXPECT_EQ(value("default", true), "prefixed");
}

TEST(CredentialTimestampTest, ParsesTheEndpointsFormats)
{
    const auto at = [](long long unix_seconds) { return system_clock::time_point{std::chrono::seconds{unix_seconds}}; };
    EXPECT_EQ(parse_aws_timestamp("2024-05-01T12:00:00Z"), at(1714564800));
    EXPECT_EQ(parse_aws_timestamp("2024-05-01T14:00:00+02:00"), at(1714564800));
    EXPECT_EQ(parse_aws_timestamp("2024-05-01T07:30:00-0430"), at(1714564800));
    EXPECT_EQ(parse_aws_timestamp("2024-02-29t00:00:00z"), at(1709164800));
    EXPECT_EQ(parse_aws_timestamp("2024-05-01T12:00:00.250Z"),
        at(1714564800) + std::chrono::duration_cast<system_clock::duration>(250ms));
    for (const char* bad : {"", "2024-05-01T12:00:00", "2024-05-01 12:00Z", "2024-13-01T00:00:00Z",
             "2023-02-29T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00Zjunk",
             "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "2024-05-01T12:00:00+25:00"})
        EXPECT_EQ(parse_aws_timestamp(bad), std::nullopt) << bad;
}

// ---- the chain ------------------------------------------------------------------------------------------

// Every source present at once; each is removed in turn to uncover the next one, on one provider, which also
// shows that changes are picked up without a restart.
TEST_F(CredentialTest, ChainOrderWithEverySourcePresent)
{
    start_stub({"--container-token", k_container_token});
    const std::string setting_file = m_home / "walvault-credentials";
    write_file(setting_file, credentials_ini("default", "AKIAWALVAULTFILE", "secret-walvault-file"));
    m_env.set("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT");
    m_env.set("AWS_SECRET_ACCESS_KEY", "secret-environment");
    m_env.set("AWS_SESSION_TOKEN", "token-environment");
    write_file(m_home / ".aws/credentials", credentials_ini("default", "AKIASHAREDFILE", "secret-shared-file"));
    write_file(m_home / ".aws/config", credentials_ini("default", "AKIACONFIGFILE", "secret-config-file"));
    m_env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", m_stub.url() + "/container/v1/credentials");
    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", k_container_token);
    use_stub_imds();

    CredentialOptions o = options();
    o.credentials_file = setting_file;
    CredentialProvider with_setting(o);
    AwsCredentials c;
    WV_ASSERT_OK(with_setting.get(c));
    EXPECT_EQ(c.access_key_id, "AKIAWALVAULTFILE");
    EXPECT_EQ(c.secret_access_key, "secret-walvault-file");
    EXPECT_EQ(c.session_token, "");
    EXPECT_EQ(c.source, "walvault.s3_credentials_file \"" + setting_file + "\" profile \"default\"");

    CredentialProvider provider(options());
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "AKIAENVIRONMENT");
    EXPECT_EQ(c.secret_access_key, "secret-environment");
    EXPECT_EQ(c.session_token, "token-environment");
    EXPECT_EQ(c.source, "environment");

    m_env.unset("AWS_ACCESS_KEY_ID");
    m_env.unset("AWS_SECRET_ACCESS_KEY");
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "AKIASHAREDFILE");
    EXPECT_EQ(c.secret_access_key, "secret-shared-file");
    EXPECT_EQ(c.session_token, "");  // AWS_SESSION_TOKEN belongs to the environment's keys only
    EXPECT_EQ(c.source, "shared credentials file \"" + (m_home / ".aws/credentials") + "\" profile \"default\"");

    std::filesystem::remove(m_home / ".aws/credentials");
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "AKIACONFIGFILE");
    EXPECT_EQ(c.source, "config file \"" + (m_home / ".aws/config") + "\" profile \"default\"");

    std::filesystem::remove(m_home / ".aws/config");
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIACONTAINER000001");
    EXPECT_EQ(c.secret_access_key, "stub-secret-container-1");
    EXPECT_EQ(c.session_token, "stub-session-token-container-1");
    EXPECT_TRUE(c.expiration.has_value());
    EXPECT_EQ(c.source, "container credentials \"" + m_stub.url() + "/container/v1/credentials\"");

    m_env.unset("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");
    EXPECT_EQ(c.secret_access_key, "stub-secret-imds-1");
    EXPECT_EQ(c.session_token, "stub-session-token-imds-1");
    EXPECT_EQ(c.source, "instance metadata \"" + m_stub.url() + "\" role \"walvault-test-role\"");
}

TEST_F(CredentialTest, ProfileSelectionInBothFiles)
{
    write_file(m_home / ".aws/credentials",
        "; shared credentials\n"
        "[default]\n"
        "aws_access_key_id = AKIADEFAULT\n"
        "aws_secret_access_key = secret-default\n"
        "\n"
        "[work]   \n"
        "  aws_access_key_id=AKIAWORK   # the work account\n"
        "  aws_secret_access_key=secret-work\n"
        "  aws_session_token=token-work\n"
        "[profile cfgonly]\n"  // not the profile "cfgonly" in a credentials file
        "aws_access_key_id = AKIAWRONG\n"
        "aws_secret_access_key = secret-wrong\n");
    write_file(m_home / ".aws/config",
        "[default]\nregion = us-east-1\n"
        "[profile cfgonly]\naws_access_key_id = AKIACFGONLY\naws_secret_access_key = secret-cfgonly\n"
        "[bare]\naws_access_key_id = AKIABARE\naws_secret_access_key = secret-bare\n");

    AwsCredentials c;
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "AKIADEFAULT");

    m_env.set("AWS_PROFILE", "work");
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "AKIAWORK");
    EXPECT_EQ(c.secret_access_key, "secret-work");
    EXPECT_EQ(c.session_token, "token-work");
    EXPECT_NE(c.source.find("profile \"work\""), std::string::npos);

    m_env.set("AWS_PROFILE", "cfgonly");
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "AKIACFGONLY");
    EXPECT_EQ(c.source.rfind("config file ", 0), 0u) << c.source;

    // walvault.s3_profile beats AWS_PROFILE.
    CredentialOptions o = options();
    o.profile = "default";
    WV_ASSERT_OK(get(c, o));
    EXPECT_EQ(c.access_key_id, "AKIADEFAULT");

    // "[bare]" is no profile in a config file: a profile asked for by name must exist.
    m_env.set("AWS_PROFILE", "bare");
    Status st = get(c, options());
    EXPECT_EQ(st.code(), Code::invalid);
    EXPECT_EQ(st.message(),
        "profile \"bare\" not found in \"" + (m_home / ".aws/credentials") + "\" or \"" + (m_home / ".aws/config") +
            "\"");
    EXPECT_FALSE(st.hint().empty());

    // AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move the files.
    m_env.unset("AWS_PROFILE");
    write_file(m_home / "other-credentials", credentials_ini("default", "AKIAOTHERFILE", "secret-other"));
    m_env.set("AWS_SHARED_CREDENTIALS_FILE", m_home / "other-credentials");
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "AKIAOTHERFILE");
    m_env.set("AWS_SHARED_CREDENTIALS_FILE", m_home / "nothing-here");
    m_env.set("AWS_CONFIG_FILE", m_home / ".aws/credentials");  // read as a config file: only [default] counts
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "AKIADEFAULT");
}

TEST_F(CredentialTest, HalfSetProfilesAreErrors)
{
    const struct {
        std::string text;
        std::string message_end;
    } cases[] = {
        {"[default]\naws_access_key_id = AKIAONLYID\n", "has \"aws_access_key_id\" but no \"aws_secret_access_key\""},
        {"[default]\naws_secret_access_key = secret-only-secret\n",
            "has \"aws_secret_access_key\" but no \"aws_access_key_id\""},
        {"[default]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n",
            "uses \"role_arn\", which walvault does not support"},
    };
    m_env.set("AWS_ACCESS_KEY_ID", "");  // empty counts as unset
    for (const auto& c : cases) {
        write_file(m_home / ".aws/credentials", c.text);
        AwsCredentials out;
        const Status st = get(out, options());
        EXPECT_EQ(st.code(), Code::invalid) << c.text;
        EXPECT_EQ(st.message(),
            "profile \"default\" in shared credentials file \"" + (m_home / ".aws/credentials") + "\" " +
                c.message_end);
        EXPECT_FALSE(st.hint().empty());
        expect_no_secret(st, {"secret-only-secret"});
    }
}

TEST_F(CredentialTest, MissingSecretInEnvironmentNamesTheMissingVariable)
{
    AwsCredentials c;
    m_env.set("AWS_ACCESS_KEY_ID", "AKIAENVONLY");
    m_env.set("AWS_SESSION_TOKEN", "token-env-SECRET");
    Status st = get(c, options());
    EXPECT_EQ(st.code(), Code::invalid);
    EXPECT_EQ(st.message(), "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    EXPECT_EQ(st.hint(), "Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or neither.");
    expect_no_secret(st, {"token-env-SECRET"});

    m_env.unset("AWS_ACCESS_KEY_ID");
    m_env.set("AWS_SECRET_ACCESS_KEY", "secret-env-SECRET");
    st = get(c, options());
    EXPECT_EQ(st.code(), Code::invalid);
    EXPECT_EQ(st.message(), "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    expect_no_secret(st, {"secret-env-SECRET", "token-env-SECRET"});

    // A half-set environment is an error even with good keys further down the chain.
    write_file(m_home / ".aws/credentials", credentials_ini("default", "AKIASHARED", "secret-shared"));
    EXPECT_EQ(get(c, options()).code(), Code::invalid);
}

TEST_F(CredentialTest, NothingFoundListsEveryPlaceLookedAt)
{
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(test::unused_local_port());
    m_env.unset("AWS_EC2_METADATA_DISABLED");
    m_env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint);
    write_file(m_home / ".aws/config", "[default]\nregion = eu-central-1\n");

    AwsCredentials c;
    Status st = get(c, options());
    ASSERT_EQ(st.code(), Code::not_found) << st.message();
    const std::string& m = st.message();
    EXPECT_EQ(m.rfind("no AWS credentials found: walvault.s3_credentials_file (not set); ", 0), 0u) << m;
    for (const std::string& place :
        {std::string("environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set)"),
            "shared credentials file \"" + (m_home / ".aws/credentials") + "\" (no such file)",
            "config file \"" + (m_home / ".aws/config") + "\" (profile \"default\" has no keys)",
            std::string("container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set)"),
            "instance metadata \"" + endpoint + "\" ("})
        EXPECT_NE(m.find(place), std::string::npos) << place << "\nnot in: " << m;
    EXPECT_EQ(st.hint().back(), '.');

    m_env.set("AWS_EC2_METADATA_DISABLED", "TRUE");
    m_env.unset("HOME");
    st = get(c, options());
    ASSERT_EQ(st.code(), Code::not_found);
    EXPECT_NE(st.message().find("shared credentials file (HOME is not set); config file (HOME is not set)"),
        std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("; instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"), std::string::npos)
        << st.message();
}

TEST_F(CredentialTest, SettingFileIsReReadWhenItChanges)
{
    const std::string path = m_home / "walvault-credentials";
    write_file(path, "# walvault\n[archive]\naws_access_key_id = AKIAFIRST0\naws_secret_access_key = secret-one\n");
    CredentialOptions o = options();
    o.credentials_file = path;
    o.profile = "archive";
    CredentialProvider provider(o);
    AwsCredentials c;
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "AKIAFIRST0");

    // Same size, so only the mtime tells the change.
    write_file(path, "# walvault\n[archive]\naws_access_key_id = AKIAFIXED0\naws_secret_access_key = secret-two\n");
    std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) + 2s);
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "AKIAFIXED0");
    EXPECT_EQ(c.secret_access_key, "secret-two");

    // A setting pointing at nothing is an error, never a reason to fall through to other credentials.
    m_env.set("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT");
    m_env.set("AWS_SECRET_ACCESS_KEY", "secret-environment");
    std::filesystem::remove(path);
    Status st = provider.get(c);
    EXPECT_EQ(st.code(), Code::invalid);
    EXPECT_EQ(st.message(), "walvault.s3_credentials_file \"" + path + "\" does not exist");

    write_file(path, credentials_ini("default", "AKIAOTHERPROFILE", "secret-three"));
    st = provider.get(c);
    EXPECT_EQ(st.code(), Code::invalid);
    EXPECT_EQ(st.message(), "profile \"archive\" not found in walvault.s3_credentials_file \"" + path + "\"");

    write_file(path, "[archive]\naws_access_key_id = AKIAX\nsecret-three-SECRET\n");
    st = provider.get(c);
    EXPECT_EQ(st.code(), Code::invalid);
    EXPECT_EQ(st.message(), "syntax error in \"" + path + "\": line 3: expected \"name = value\"");
    EXPECT_FALSE(st.hint().empty());
    expect_no_secret(st, {"secret-three-SECRET"});

    write_file(path, credentials_ini("archive", "AKIABACK", "secret-four"));
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "AKIABACK");
}

TEST_F(CredentialTest, ProfileRegionComesFromTheConfigFile)
{
    EXPECT_EQ(profile_region(options()), std::nullopt);  // no file
    write_file(m_home / ".aws/config",
        "[default]\nregion = eu-west-1\n"
        "[profile work]\nregion = ap-south-1 ; Mumbai\n"
        "[bare]\nregion = us-west-2\n"
        "[profile noregion]\noutput = json\n");
    EXPECT_EQ(profile_region(options()), "eu-west-1");
    m_env.set("AWS_PROFILE", "work");
    EXPECT_EQ(profile_region(options()), "ap-south-1");
    m_env.set("AWS_PROFILE", "bare");
    EXPECT_EQ(profile_region(options()), std::nullopt);
    m_env.set("AWS_PROFILE", "noregion");
    EXPECT_EQ(profile_region(options()), std::nullopt);
    CredentialOptions o = options();
    o.profile = "default";
    EXPECT_EQ(profile_region(o), "eu-west-1");
    m_env.set("AWS_CONFIG_FILE", m_home / "elsewhere");
    write_file(m_home / "elsewhere", "[profile noregion]\nregion = sa-east-1\n");
    EXPECT_EQ(profile_region(options()), "sa-east-1");
}

// ---- the endpoints --------------------------------------------------------------------------------------

TEST_F(CredentialTest, ImdsV2SessionTokenIsUsed)
{
    start_stub({});
    use_stub_imds();
    // The stub refuses metadata without a session token, as EC2 does with IMDSv1 turned off.
    EXPECT_EQ(m_stub.request("GET", "/latest/meta-data/iam/security-credentials/").status, 401);

    AwsCredentials c;
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");
    EXPECT_EQ(c.session_token, "stub-session-token-imds-1");
    ASSERT_TRUE(c.expiration.has_value());
    EXPECT_GT(*c.expiration, system_clock::now() + 50min);
    const auto stats = m_stub.stats();
    EXPECT_EQ(stats.at("token_puts"), 1);
    EXPECT_EQ(stats.at("token_puts_without_ttl"), 0);
    EXPECT_EQ(stats.at("role_lists"), 1);
    EXPECT_EQ(stats.at("role_gets"), 1);
    EXPECT_EQ(stats.at("unauthorized"), 1);  // our probe only
}

TEST_F(CredentialTest, ImdsWithoutRoleAndImdsDisabled)
{
    start_stub({"--no-role"});
    use_stub_imds();
    AwsCredentials c;
    Status st = get(c, options());
    EXPECT_EQ(st.code(), Code::not_found);
    EXPECT_NE(st.message().find("instance metadata \"" + m_stub.url() + "\" (no IAM role attached to the instance)"),
        std::string::npos)
        << st.message();

    for (const char* value : {"true", "True", "TRUE"}) {
        m_env.set("AWS_EC2_METADATA_DISABLED", value);
        st = get(c, options());
        EXPECT_EQ(st.code(), Code::not_found);
        EXPECT_NE(st.message().find("instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"), std::string::npos);
    }
    EXPECT_EQ(m_stub.stats().at("token_puts"), 1);  // only the first get asked
}

TEST_F(CredentialTest, ContainerCredentialsWithAuthorizationToken)
{
    start_stub({"--container-token", k_container_token});
    const std::string full_uri = m_stub.url() + "/container/v1/credentials";
    m_env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri);
    AwsCredentials c;

    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", k_container_token);
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "ASIACONTAINER000001");
    EXPECT_EQ(c.session_token, "stub-session-token-container-1");

    // The token file wins over the variable (EKS Pod Identity rotates the file); a final newline is dropped.
    const std::string token_file = m_home / "eks-token";
    write_file(token_file, std::string(k_container_token) + "\n");
    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token-SECRET");
    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file);
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.access_key_id, "ASIACONTAINER000002");

    m_env.unset("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    Status st = get(c, options());
    EXPECT_EQ(st.code(), Code::io_error);
    EXPECT_EQ(st.message(), "could not get container credentials \"" + full_uri + "\": HTTP 401");
    EXPECT_EQ(st.hint(), "Check AWS_CONTAINER_AUTHORIZATION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.");
    expect_no_secret(st, {"wrong-token-SECRET", k_container_token});

    // The relative URI (ECS) goes to the container host and wins over the full URI.
    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", k_container_token);
    m_env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/never");
    m_env.set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/container/v2/credentials/0f1e2d3c");
    CredentialOptions o = options();
    o.container_host = m_stub.url();
    WV_ASSERT_OK(get(c, o));
    EXPECT_EQ(c.access_key_id, "ASIACONTAINER000003");
    EXPECT_EQ(c.source, "container credentials \"" + m_stub.url() + "/container/v2/credentials/0f1e2d3c\"");
    EXPECT_EQ(m_stub.stats().at("token_puts"), 0);  // a configured container source is final: no IMDS
}

TEST_F(CredentialTest, ContainerFullUriOverHttpOnlyToLoopbackOrContainerHosts)
{
    AwsCredentials c;
    for (const char* uri :
        {"http://10.0.0.5/creds", "http://user:SECRET-PW@example.com/creds", "ftp://127.0.0.1/x", "not a url"}) {
        m_env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri);
        const Status st = get(c, options());
        EXPECT_EQ(st.code(), Code::invalid) << uri;
        EXPECT_EQ(st.message().rfind("AWS_CONTAINER_CREDENTIALS_FULL_URI ", 0), 0u) << st.message();
        expect_no_secret(st, {"SECRET-PW"});
    }
}

TEST_F(CredentialTest, RefreshesTemporaryCredentialsBeforeTheyExpire)
{
    start_stub({"--expires-in", "600"});
    use_stub_imds();
    CredentialProvider provider(options());
    AwsCredentials c;
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");  // from memory
    m_clock.advance(4min);                         // 6 minutes left: still good
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");
    EXPECT_EQ(m_stub.stats().at("role_gets"), 1);

    m_clock.advance(2min);  // 4 minutes left: within k_refresh_before_expiry
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000002");
    EXPECT_EQ(m_stub.stats().at("role_gets"), 2);
    EXPECT_EQ(m_stub.stats().at("token_puts"), 2);
}

TEST_F(CredentialTest, AnswerAlreadyExpiredIsNotFetchedInALoop)
{
    start_stub({"--expires-in", "-60"});
    use_stub_imds();
    CredentialProvider provider(options());
    AwsCredentials c;
    WV_ASSERT_OK(provider.get(c));  // the endpoint is the authority: our clock may be the one that is wrong
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");
    EXPECT_EQ(m_stub.stats().at("role_gets"), 1);
    m_clock.advance(std::chrono::duration_cast<std::chrono::seconds>(k_min_refresh_interval) + 1s);
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000002");
}

TEST_F(CredentialTest, KeepsValidCredentialsWhileRefreshFailsAndRetriesFailuresSlowly)
{
    start_stub({"--expires-in", "600"});
    use_stub_imds();
    CredentialProvider provider(options());
    AwsCredentials c;
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");

    m_stub.stop();          // the endpoint goes away ...
    m_clock.advance(6min);  // ... when a refresh is due: the old credentials still have 4 minutes
    WV_ASSERT_OK(provider.get(c));
    EXPECT_EQ(c.access_key_id, "ASIAIMDS000001");

    m_clock.advance(4min);  // expired now, and still no endpoint
    Status st = provider.get(c);
    EXPECT_EQ(st.code(), Code::not_found);
    EXPECT_NE(st.message().find("instance metadata \"http://127.0.0.1:"), std::string::npos) << st.message();

    // A container endpoint that refuses: the error is answered from memory for k_failure_retry_interval.
    start_stub({"--container-token", k_container_token});
    m_env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", m_stub.url() + "/container/creds");
    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "not-the-token");
    EXPECT_EQ(provider.get(c).code(), Code::io_error);
    EXPECT_EQ(provider.get(c).code(), Code::io_error);
    EXPECT_EQ(m_stub.stats().at("unauthorized"), 1);
    m_clock.advance(std::chrono::duration_cast<std::chrono::seconds>(k_failure_retry_interval) + 1s);
    EXPECT_EQ(provider.get(c).code(), Code::io_error);
    EXPECT_EQ(m_stub.stats().at("unauthorized"), 2);
}

TEST_F(CredentialTest, ManyThreadsShareOneFetch)
{
    start_stub({"--delay-ms", "300"});
    use_stub_imds();
    CredentialProvider provider(options());
    constexpr int k_threads = 16;
    std::vector<std::thread> threads;
    std::vector<Status> results(k_threads);
    std::vector<std::string> keys(k_threads);
    for (int i = 0; i < k_threads; ++i)
        threads.emplace_back([&, i] {
            AwsCredentials c;
            results[i] = provider.get(c);
            keys[i] = c.access_key_id;
        });
    for (std::thread& t : threads)
        t.join();
    for (int i = 0; i < k_threads; ++i) {
        WV_EXPECT_OK(results[i]);
        EXPECT_EQ(keys[i], "ASIAIMDS000001");
    }
    const auto stats = m_stub.stats();
    EXPECT_EQ(stats.at("token_puts"), 1);
    EXPECT_EQ(stats.at("role_gets"), 1);
}

TEST_F(CredentialTest, SecretsNeverInMessages)
{
    // Endpoint answers without SecretAccessKey but with a Token: the error must not quote the answer.
    start_stub({"--broken", "--container-token", k_container_token});
    use_stub_imds();
    AwsCredentials c;
    Status st = get(c, options());
    EXPECT_EQ(st.code(), Code::corrupt);
    EXPECT_EQ(st.message(),
        "the answer of instance metadata \"" + m_stub.url() +
            "\" role \"walvault-test-role\" has no "
            "\"SecretAccessKey\"");
    expect_no_secret(st, {"stub-session-token", "stub-imds-session-token", "ASIAIMDS"});

    m_env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", m_stub.url() + "/container/creds");
    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", k_container_token);
    st = get(c, options());
    EXPECT_EQ(st.code(), Code::corrupt);
    expect_no_secret(st, {"stub-session-token", k_container_token});

    // The token file's contents never show, whatever is wrong with it.
    write_file(m_home / "token", "line-one-SECRET\nline-two-SECRET\n");
    m_env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", m_home / "token");
    st = get(c, options());
    EXPECT_EQ(st.code(), Code::invalid);
    EXPECT_EQ(st.message(), "the container authorization token contains a line break");
    expect_no_secret(st, {"line-one-SECRET", "line-two-SECRET", k_container_token});

    // Successful sources name themselves without secrets either.
    m_env.set("AWS_ACCESS_KEY_ID", "AKIAENV");
    m_env.set("AWS_SECRET_ACCESS_KEY", "secret-env-SECRET");
    m_env.set("AWS_SESSION_TOKEN", "token-env-SECRET");
    WV_ASSERT_OK(get(c, options()));
    EXPECT_EQ(c.source.find("SECRET"), std::string::npos);
}

}  // namespace
}  // namespace walvault
