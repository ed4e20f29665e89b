// The AWS credentials chain. Files are checked with one stat per call and re-parsed only when their identity
// (device, inode, size, mtime, ctime) changes; endpoint answers are cached with their refresh times, and one
// thread at a time fetches them while the others wait for its answer or keep using credentials still valid.
#include "core/storage/s3/credentials.h"

#include "core/common/file_io.h"
#include "core/common/text.h"

#include "core/http/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <thread>
#include <utility>
#include <vector>

namespace walvault {
namespace {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using Section = std::map<std::string, std::string>;

constexpr const char* k_default_profile = "default";
constexpr const char* k_setting_name = "walvault.s3_credentials_file";
constexpr const char* k_utf8_bom = "\xEF\xBB\xBF";
// Timestamps outside this range are refused: system_clock counts nanoseconds in 64 bits (up to 2262).
constexpr int k_min_timestamp_year = 1970;
constexpr int k_max_timestamp_year = 2200;

// Profile keys of ways to get credentials that walvault does not implement (assume-role, SSO, processes, web
// identity). A profile with one of them and no static keys is an error, not a silent fall-through to the next
// source, which would run with other credentials than the user chose.
constexpr const char* k_unsupported_profile_keys[] = {
    "role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file", "credential_source"};

bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

std::string in_quotes(std::string_view s)
{
    return "\"" + std::string(s) + "\"";
}

// Cuts a comment off a value: '#' or ';' after whitespace. Keys and secrets are base64-like and never contain
// either after a blank.
std::string_view strip_inline_comment(std::string_view value)
{
    for (size_t i = 1; i < value.size(); ++i)
        if ((value[i] == '#' || value[i] == ';') && is_blank(value[i - 1]))
            return trim(value.substr(0, i));
    return value;
}

// ---- files --------------------------------------------------------------------------------------------

struct FileStamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const struct stat& st)
{
    FileStamp s;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return s;
}

bool is_absent_errno(int err)
{
    return err == ENOENT || err == ENOTDIR;
}

// Reads a whole credentials file (read_small_file in file_io.h, at most k_max_credentials_file_bytes).
// present = false (and ok) when it does not exist.
Status read_credentials_file(const std::string& path, bool& present, std::string& text, FileStamp* stamp)
{
    struct stat st;
    Status status = read_small_file(path, k_max_credentials_file_bytes, present, text, &st);
    if (status.is_ok() && present && stamp != nullptr)
        *stamp = stamp_of(st);
    return status;
}

// Reads and parses an INI file, without caching (profile_region).
Status load_ini_uncached(const std::string& path, bool& present, IniSections& out)
{
    std::string text;
    Status st = read_credentials_file(path, present, text, nullptr);
    if (!st.is_ok() || !present)
        return st;
    st = parse_aws_ini(text, out);
    if (!st.is_ok())
        st.prefix("syntax error in " + in_quotes(path));
    return st;
}

// ---- environment --------------------------------------------------------------------------------------

std::optional<std::string> system_getenv(const std::string& name)
{
    const char* value = ::getenv(name.c_str());
    if (value == nullptr)
        return std::nullopt;
    return std::string(value);
}

CredentialOptions with_defaults(CredentialOptions options)
{
    if (!options.getenv)
        options.getenv = system_getenv;
    if (!options.now)
        options.now = [] { return Clock::now(); };
    return options;
}

// The variable's value, or nullopt when it is unset or empty.
std::optional<std::string> env_value(const CredentialOptions& options, const std::string& name)
{
    std::optional<std::string> value = options.getenv(name);
    if (value && value->empty())
        return std::nullopt;
    return value;
}

struct ProfileChoice {
    std::string name;
    bool explicit_choice = false;  // walvault.s3_profile or AWS_PROFILE, rather than the default
};

ProfileChoice choose_profile(const CredentialOptions& options)
{
    if (!options.profile.empty())
        return {options.profile, true};
    if (auto value = env_value(options, "AWS_PROFILE"))
        return {*value, true};
    return {k_default_profile, false};
}

// AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, else ~/.aws/<name>; a leading "~/" is HOME. nullopt when HOME
// is needed but not set.
std::optional<std::string> shared_file_path(
    const CredentialOptions& options, const std::string& variable, const std::string& name)
{
    std::string path = env_value(options, variable).value_or("~/.aws/" + name);
    if (path == "~" || path.rfind("~/", 0) == 0) {
        const auto home = env_value(options, "HOME");
        if (!home)
            return std::nullopt;
        path = *home + path.substr(1);
    }
    return path;
}

// ---- profiles -----------------------------------------------------------------------------------------

std::optional<std::string> section_value(const Section& section, const std::string& key)
{
    const auto it = section.find(key);
    if (it == section.end() || it->second.empty())
        return std::nullopt;
    return it->second;
}

// The static keys of a profile section. found = false (and ok) when it has none; Code::invalid when it has only
// one of them, or none but an unsupported way to get credentials. `where` names the profile and file.
Status static_keys(const Section& section, const std::string& where, bool& found, AwsCredentials& out)
{
    found = false;
    const auto id = section_value(section, "aws_access_key_id");
    const auto secret = section_value(section, "aws_secret_access_key");
    if (id && secret) {
        out.access_key_id = *id;
        out.secret_access_key = *secret;
        out.session_token = section_value(section, "aws_session_token").value_or("");
        out.expiration.reset();
        found = true;
        return Status::ok();
    }
    if (id || secret)
        return Status::error(Code::invalid,
            where + " has " +
                (id ? "\"aws_access_key_id\" but no \"aws_secret_access_key\""
                    : "\"aws_secret_access_key\" but no \"aws_access_key_id\""),
            "Add the missing key to the profile, or remove the other one.");
    for (const char* key : k_unsupported_profile_keys)
        if (section.count(key) != 0)
            return Status::error(Code::invalid, where + " uses " + in_quotes(key) + ", which walvault does not support",
                "Give the profile aws_access_key_id and aws_secret_access_key, or provide credentials through "
                "the environment, a container role or an instance role.");
    return Status::ok();
}

// ---- URLs ---------------------------------------------------------------------------------------------

struct UrlParts {
    std::string scheme;  // lower case
    std::string host;    // lower case, without the brackets of an IPv6 address
};

std::optional<UrlParts> split_url(std::string_view url)
{
    const size_t sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0)
        return std::nullopt;
    UrlParts parts;
    parts.scheme = to_lower_ascii(url.substr(0, sep));
    std::string_view authority = url.substr(sep + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    const size_t at = authority.rfind('@');
    if (at != std::string_view::npos)
        authority = authority.substr(at + 1);
    if (!authority.empty() && authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return std::nullopt;
        parts.host = to_lower_ascii(authority.substr(1, close - 1));
    } else {
        parts.host = to_lower_ascii(authority.substr(0, authority.find(':')));
    }
    if (parts.host.empty())
        return std::nullopt;
    return parts;
}

// The URL for messages: without user information, query or fragment, which may carry secrets.
std::string redact_url(const std::string& url)
{
    std::string out = url.substr(0, url.find_first_of("?#"));
    const size_t sep = out.find("://");
    if (sep == std::string::npos)
        return out;
    const size_t authority_end = std::min(out.find('/', sep + 3), out.size());
    const size_t at = out.rfind('@', authority_end);
    if (at != std::string::npos && at > sep)
        out.erase(sep + 3, at + 1 - (sep + 3));
    return out;
}

bool is_http_url(const std::string& url)
{
    const auto parts = split_url(url);
    return parts && (parts->scheme == "http" || parts->scheme == "https");
}

// Plain http to AWS_CONTAINER_CREDENTIALS_FULL_URI is allowed only to loopback and to the ECS and EKS Pod
// Identity addresses, as in the AWS SDKs: the authorization token must not travel in clear to anywhere else.
bool container_host_allowed_over_http(const std::string& host)
{
    if (host == "localhost")
        return true;
    in_addr v4;
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        const uint32_t a = ntohl(v4.s_addr);
        return (a >> 24) == 127 || a == 0xA9FEAA02 /* 169.254.170.2, ECS */ ||
            a == 0xA9FEAA17 /* 169.254.170.23, EKS Pod Identity */;
    }
    in6_addr v6;
    if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        in6_addr eks;
        ::inet_pton(AF_INET6, "fd00:ec2::23", &eks);
        return IN6_IS_ADDR_LOOPBACK(&v6) || std::memcmp(&v6, &eks, sizeof(v6)) == 0;
    }
    return false;
}

// ---- endpoints ----------------------------------------------------------------------------------------

struct RemoteConfig {
    enum class Kind { container, imds, imds_disabled };
    Kind kind = Kind::imds;
    std::string url;              // container credentials URL, or the instance metadata endpoint without a final '/'
    std::string auth_token;       // secret: AWS_CONTAINER_AUTHORIZATION_TOKEN
    std::string auth_token_file;  // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, read at every fetch (EKS rotates it)
    bool operator==(const RemoteConfig&) const = default;
};

Status remote_config(const CredentialOptions& options, RemoteConfig& out)
{
    out = RemoteConfig{};
    const auto relative = env_value(options, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const auto full = env_value(options, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (relative || full) {
        out.kind = RemoteConfig::Kind::container;
        if (relative) {  // the relative URI wins, as in the AWS SDKs
            std::string base = options.container_host;
            while (!base.empty() && base.back() == '/')
                base.pop_back();
            out.url = base + (relative->front() == '/' ? "" : "/") + *relative;
        } else {
            out.url = *full;
            const auto parts = split_url(out.url);
            if (!parts || (parts->scheme != "http" && parts->scheme != "https"))
                return Status::error(Code::invalid,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI " + in_quotes(redact_url(out.url)) +
                        " is not an http or https URL");
            if (parts->scheme == "http" && !container_host_allowed_over_http(parts->host))
                return Status::error(Code::invalid,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI " + in_quotes(redact_url(out.url)) + " uses http with host " +
                        in_quotes(parts->host),
                    "Use https, or a loopback address, 169.254.170.2 (ECS) or 169.254.170.23 (EKS Pod Identity).");
        }
        out.auth_token = env_value(options, "AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or("");
        out.auth_token_file = env_value(options, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").value_or("");
        return Status::ok();
    }
    if (to_lower_ascii(trim(env_value(options, "AWS_EC2_METADATA_DISABLED").value_or(""))) == "true") {
        out.kind = RemoteConfig::Kind::imds_disabled;
        return Status::ok();
    }
    out.kind = RemoteConfig::Kind::imds;
    out.url = env_value(options, "AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or(k_imds_endpoint);
    if (!is_http_url(out.url))
        return Status::error(Code::invalid,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT " + in_quotes(redact_url(out.url)) + " is not an http or https URL",
            "Unset the variable to use " + std::string(k_imds_endpoint) + ", or give a URL such as " +
                "\"http://[fd00:ec2::254]\".");
    while (!out.url.empty() && out.url.back() == '/')
        out.url.pop_back();
    return Status::ok();
}

// What an endpoint gave: credentials (found), nothing (ok, not found; `place` says why, for the summary), or an
// error of an endpoint that is configured.
struct RemoteResult {
    Status status;
    bool found = false;
    AwsCredentials credentials;
    std::string place;
};

RemoteResult remote_error(Status status)
{
    RemoteResult r;
    r.status = std::move(status);
    return r;
}

RemoteResult remote_absent(std::string place)
{
    RemoteResult r;
    r.place = std::move(place);
    return r;
}

double random01()
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Up to `attempts` tries; retried are transport failures and the statuses http_status_retryable() names.
Status perform_with_retries(HttpClient& client, const HttpRequest& request, HttpResponse& response, int attempts)
{
    for (int attempt = 1;; ++attempt) {
        Status st = client.perform(request, response);
        const bool retry = !st.is_ok() || http_status_retryable(response.status);
        if (!retry || attempt >= attempts)
            return st;
        std::this_thread::sleep_for(retry_delay(attempt, random01()));
    }
}

// The answer of a container or instance metadata endpoint. Nothing of the body goes into a message: it holds
// the secret key and token.
Status credentials_from_json(const std::string& body, const std::string& what, AwsCredentials& out)
{
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return Status::error(Code::corrupt, "could not parse the answer of " + what + ": not a JSON object");
    auto text = [&doc](const char* key) -> const std::string* {
        const auto it = doc.find(key);
        if (it == doc.end() || !it->is_string())
            return nullptr;
        return &it->get_ref<const std::string&>();
    };
    if (const std::string* code = text("Code"); code != nullptr && *code != "Success") {
        const bool printable = code->size() <= 64 && std::all_of(code->begin(), code->end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        });
        return Status::error(Code::io_error,
            what + " answered with code " + (printable ? in_quotes(*code) : std::string("other than \"Success\"")));
    }
    for (const char* key : {"AccessKeyId", "SecretAccessKey"}) {
        const std::string* value = text(key);
        if (value == nullptr || value->empty())
            return Status::error(Code::corrupt, "the answer of " + what + " has no " + in_quotes(key));
    }
    out.access_key_id = *text("AccessKeyId");
    out.secret_access_key = *text("SecretAccessKey");
    const std::string* token = text("Token");
    out.session_token = token != nullptr ? *token : "";
    out.expiration.reset();
    if (doc.contains("Expiration")) {
        const std::string* expiration = text("Expiration");
        std::optional<TimePoint> when;
        if (expiration != nullptr)
            when = parse_aws_timestamp(*expiration);
        if (!when)
            return Status::error(Code::corrupt, "the answer of " + what + " has an invalid \"Expiration\"");
        out.expiration = when;
    }
    return Status::ok();
}

RemoteResult fetch_container(const RemoteConfig& config)
{
    const std::string url = redact_url(config.url);
    const std::string what = "container credentials " + in_quotes(url);
    std::string token = config.auth_token;
    if (!config.auth_token_file.empty()) {  // the file wins, as in the AWS SDKs
        bool present = false;
        Status st = read_credentials_file(config.auth_token_file, present, token, nullptr);
        if (st.is_ok() && !present)
            st = Status::error(Code::io_error, "file " + in_quotes(config.auth_token_file) + " does not exist");
        if (!st.is_ok())
            return remote_error(st.prefix("could not read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
    }
    token = std::string(trim(token));
    if (token.find_first_of("\r\n") != std::string::npos)
        return remote_error(Status::error(Code::invalid, "the container authorization token contains a line break",
            "Check AWS_CONTAINER_AUTHORIZATION_TOKEN and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE."));

    HttpOptions http;
    http.no_proxy = true;  // instance and container endpoints are local: never through a proxy
    http.connect_timeout = k_container_connect_timeout;
    http.request_timeout = k_container_request_timeout;
    HttpClient client(http);
    HttpRequest request;
    request.method = "GET";
    request.url = config.url;
    request.headers.emplace_back("Accept", "application/json");
    if (!token.empty())
        request.headers.emplace_back("Authorization", token);
    HttpResponse response;
    Status st = perform_with_retries(client, request, response, k_container_attempts);
    if (!st.is_ok())
        return remote_error(Status::error(Code::io_error, "could not get " + what + ": " + st.message(),
            "The endpoint is provided by ECS or EKS Pod Identity; check AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
            "or AWS_CONTAINER_CREDENTIALS_FULL_URI."));
    if (response.status != 200) {
        const bool denied = response.status == 401 || response.status == 403;
        return remote_error(
            Status::error(Code::io_error, "could not get " + what + ": HTTP " + std::to_string(response.status),
                denied ? "Check AWS_CONTAINER_AUTHORIZATION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE."
                       : "Check that the task or pod has an IAM role."));
    }
    RemoteResult result;
    result.status = credentials_from_json(response.body, what, result.credentials);
    if (!result.status.is_ok())
        return result;
    result.found = true;
    result.credentials.source = what;
    return result;
}

RemoteResult fetch_imds(const RemoteConfig& config)
{
    const std::string where = "instance metadata " + in_quotes(redact_url(config.url));
    HttpOptions http;
    http.no_proxy = true;  // instance and container endpoints are local: never through a proxy
    http.connect_timeout = k_imds_connect_timeout;
    http.request_timeout = k_imds_request_timeout;
    HttpClient client(http);
    HttpResponse response;

    // IMDSv2: a session token first. No fallback to IMDSv1: without a token there is no instance metadata.
    HttpRequest put;
    put.method = "PUT";
    put.url = config.url + k_imds_token_path;
    put.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", std::to_string(k_imds_token_ttl.count()));
    Status st = perform_with_retries(client, put, response, k_imds_attempts);
    if (!st.is_ok())
        return remote_absent(where + " (" + st.message() + ")");
    const std::string token(trim(response.body));
    if (response.status != 200 || token.empty())
        return remote_absent(where + " (token request answered HTTP " + std::to_string(response.status) + ")");

    HttpRequest get;
    get.method = "GET";
    get.url = config.url + k_imds_credentials_path;
    get.headers.emplace_back("X-aws-ec2-metadata-token", token);
    st = perform_with_retries(client, get, response, k_imds_attempts);
    if (!st.is_ok())
        return remote_error(
            Status::error(Code::io_error, "could not get the IAM role from " + where + ": " + st.message()));
    if (response.status == 404)
        return remote_absent(where + " (no IAM role attached to the instance)");
    if (response.status != 200)
        return remote_error(Status::error(
            Code::io_error, "could not get the IAM role from " + where + ": HTTP " + std::to_string(response.status)));
    const std::string_view body = response.body;
    const std::string role(trim(body.substr(0, body.find('\n'))));
    if (role.empty())
        return remote_absent(where + " (no IAM role attached to the instance)");
    if (role.find_first_of("/?#%\\ \t\r\n") != std::string::npos || role.size() > 128)
        return remote_error(Status::error(Code::corrupt, where + " answered an invalid IAM role name"));

    get.url = config.url + k_imds_credentials_path + role;
    st = perform_with_retries(client, get, response, k_imds_attempts);
    const std::string what = where + " role " + in_quotes(role);
    if (!st.is_ok())
        return remote_error(
            Status::error(Code::io_error, "could not get credentials from " + what + ": " + st.message()));
    if (response.status != 200)
        return remote_error(Status::error(
            Code::io_error, "could not get credentials from " + what + ": HTTP " + std::to_string(response.status)));
    RemoteResult result;
    result.status = credentials_from_json(response.body, what, result.credentials);
    if (!result.status.is_ok())
        return result;
    result.found = true;
    result.credentials.source = what;
    return result;
}

RemoteResult fetch_remote(const RemoteConfig& config) noexcept
{
    try {
        return config.kind == RemoteConfig::Kind::container ? fetch_container(config) : fetch_imds(config);
    } catch (const std::bad_alloc&) {
        return remote_error(Status::error(Code::io_error, "out of memory while fetching AWS credentials"));
    } catch (...) {
        return remote_error(Status::error(Code::io_error, "unexpected error while fetching AWS credentials"));
    }
}

std::string join(const std::vector<std::string>& parts, const std::string& separator)
{
    std::string out;
    for (const std::string& part : parts) {
        if (!out.empty())
            out += separator;
        out += part;
    }
    return out;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    // Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
    y -= m <= 2 ? 1 : 0;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

unsigned days_in_month(int y, unsigned m)
{
    static const unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : k_days[m - 1];
}

}  // namespace

// ---- parsing pieces -----------------------------------------------------------------------------------

Status parse_aws_ini(std::string_view text, IniSections& out)
{
    out.clear();
    if (text.substr(0, 3) == k_utf8_bom)
        text.remove_prefix(3);
    Section* section = nullptr;
    // After "s3 =" (a key without a value), more indented lines are its sub-settings ("  max_bandwidth = 1MB/s"),
    // not keys of the profile. Other indented lines are keys: files indented by hand still work.
    bool in_nested = false;
    size_t nested_indent = 0;
    size_t line_number = 0;
    while (!text.empty() || line_number == 0) {
        ++line_number;
        const size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        const std::string where = "line " + std::to_string(line_number) + ": ";

        size_t indent = 0;
        while (indent < line.size() && is_blank(line[indent]))
            ++indent;
        const std::string_view content = trim(line);
        if (content.empty() || content.front() == '#' || content.front() == ';')
            continue;
        if (content.front() == '[') {
            const size_t close = content.find(']');
            if (close == std::string_view::npos)
                return Status::error(Code::invalid, where + "section header without \"]\"");
            const std::string_view name = trim(content.substr(1, close - 1));
            if (name.empty())
                return Status::error(Code::invalid, where + "empty section name");
            const std::string_view rest = trim(content.substr(close + 1));
            if (!rest.empty() && rest.front() != '#' && rest.front() != ';')
                return Status::error(Code::invalid, where + "unexpected text after the section header");
            section = &out[std::string(name)];
            in_nested = false;
            continue;
        }
        if (in_nested && indent > nested_indent)
            continue;
        if (section == nullptr)
            return Status::error(Code::invalid, where + "setting before the first section header");
        const size_t equals = content.find('=');
        if (equals == std::string_view::npos)
            return Status::error(Code::invalid, where + "expected \"name = value\"");
        const std::string key = to_lower_ascii(trim(content.substr(0, equals)));
        if (key.empty())
            return Status::error(Code::invalid, where + "setting without a name");
        const std::string value(strip_inline_comment(trim(content.substr(equals + 1))));
        in_nested = value.empty();
        nested_indent = indent;
        (*section)[key] = value;
    }
    return Status::ok();
}

const std::map<std::string, std::string>* find_profile(
    const IniSections& sections, const std::string& profile, bool config_format)
{
    if (!config_format) {
        const auto it = sections.find(profile);
        return it == sections.end() ? nullptr : &it->second;
    }
    // Config file: "[profile NAME]"; the default profile also as "[default]", where "[profile default]" wins.
    // A bare "[NAME]" is not a profile there.
    const Section* plain_default = nullptr;
    constexpr std::string_view k_prefix = "profile";
    for (const auto& [name, values] : sections) {
        if (name.size() > k_prefix.size() && name.compare(0, k_prefix.size(), k_prefix) == 0 &&
            is_blank(name[k_prefix.size()])) {
            if (trim(std::string_view(name).substr(k_prefix.size())) == profile)
                return &values;
        } else if (name == k_default_profile && profile == k_default_profile) {
            plain_default = &values;
        }
    }
    return plain_default;
}

std::optional<std::chrono::system_clock::time_point> parse_aws_timestamp(std::string_view s)
{
    size_t i = 0;
    auto number = [&](size_t digits, int& value) {
        if (i + digits > s.size())
            return false;
        value = 0;
        for (size_t k = 0; k < digits; ++k) {
            const char c = s[i + k];
            if (c < '0' || c > '9')
                return false;
            value = value * 10 + (c - '0');
        }
        i += digits;
        return true;
    };
    auto accept = [&](char c) {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    };
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!number(4, year) || !accept('-') || !number(2, month) || !accept('-') || !number(2, day))
        return std::nullopt;
    if (!accept('T') && !accept('t') && !accept(' '))
        return std::nullopt;
    if (!number(2, hour) || !accept(':') || !number(2, minute) || !accept(':') || !number(2, second))
        return std::nullopt;
    int64_t nanos = 0;
    if (accept('.')) {
        size_t digits = 0;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits)
            if (digits < 9)
                nanos = nanos * 10 + (s[i] - '0');
        if (digits == 0)
            return std::nullopt;
        for (; digits < 9; ++digits)
            nanos *= 10;
    }
    int offset_minutes = 0;  // the zone is required: "Z", "+hh:mm", "-hhmm"
    if (!accept('Z') && !accept('z')) {
        const bool negative = accept('-');
        if (!negative && !accept('+'))
            return std::nullopt;
        int oh = 0, om = 0;
        if (!number(2, oh))
            return std::nullopt;
        accept(':');
        if (!number(2, om) || oh > 23 || om > 59)
            return std::nullopt;
        offset_minutes = (negative ? -1 : 1) * (oh * 60 + om);
    }
    if (i != s.size())
        return std::nullopt;
    if (year < k_min_timestamp_year || year > k_max_timestamp_year || month < 1 || month > 12 || day < 1 ||
        static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month)) || hour > 23 || minute > 59 ||
        second > 60)
        return std::nullopt;
    const int64_t seconds = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
        int64_t{hour} * 3600 + int64_t{minute} * 60 + second - int64_t{offset_minutes} * 60;
    return TimePoint(
        std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos)));
}

// ---- the provider -------------------------------------------------------------------------------------

struct CredentialProvider::State {
    explicit State(CredentialOptions o)
        : options(with_defaults(std::move(o)))
    {
    }

    const CredentialOptions options;

    // Parsed files by path, with the identity they were read at. Read errors are not kept: the next call retries.
    struct CachedFile {
        FileStamp stamp;
        Status status;
        std::shared_ptr<const IniSections> sections;
    };
    std::mutex files_mutex;
    std::map<std::string, CachedFile> files;

    // The last answer of an endpoint and when to ask again.
    struct RemoteCache {
        bool valid = false;
        RemoteConfig config;
        RemoteResult result;
        TimePoint next_refresh;  // found: from then, one thread fetches while the others use the old ones
        TimePoint must_refresh;  // found: from then, nobody uses the old ones
        TimePoint retry_at;      // not found or failed: the answer stands until then
    };
    std::mutex remote_mutex;
    std::condition_variable remote_cv;
    bool refreshing = false;
    RemoteCache remote;

    Status get(AwsCredentials& out);
    Status load_ini(const std::string& path, bool& present, std::shared_ptr<const IniSections>& sections);
    Status from_setting_file(const ProfileChoice& profile, AwsCredentials& out);
    Status from_environment(bool& found, AwsCredentials& out, std::vector<std::string>& places);
    Status from_shared_files(
        const ProfileChoice& profile, bool& found, AwsCredentials& out, std::vector<std::string>& places);
    RemoteResult from_endpoint(const RemoteConfig& config);
};

Status CredentialProvider::State::load_ini(
    const std::string& path, bool& present, std::shared_ptr<const IniSections>& sections)
{
    present = false;
    sections.reset();
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        std::lock_guard lock(files_mutex);
        files.erase(path);
        if (is_absent_errno(err))
            return Status::ok();
        return Status::error(Code::io_error, "could not stat file " + in_quotes(path) + ": " + errno_text(err));
    }
    std::lock_guard lock(files_mutex);  // held while reading: a few hundred bytes, and one parse per change
    const auto it = files.find(path);
    if (it != files.end() && it->second.stamp == stamp_of(st)) {
        present = true;
        sections = it->second.sections;
        return it->second.status;
    }
    files.erase(path);
    std::string text;
    FileStamp stamp;
    Status status = read_credentials_file(path, present, text, &stamp);
    if (!status.is_ok() || !present)
        return status;
    auto parsed = std::make_shared<IniSections>();
    status = parse_aws_ini(text, *parsed);
    if (!status.is_ok())
        status.prefix("syntax error in " + in_quotes(path));
    sections = parsed;
    files[path] = CachedFile{stamp, status, parsed};
    return status;
}

Status CredentialProvider::State::from_setting_file(const ProfileChoice& profile, AwsCredentials& out)
{
    const std::string& path = options.credentials_file;
    const std::string file = std::string(k_setting_name) + " " + in_quotes(path);
    bool present = false;
    std::shared_ptr<const IniSections> sections;
    Status st = load_ini(path, present, sections);
    if (!st.is_ok()) {
        if (st.code() == Code::invalid && st.hint().empty())
            return Status::error(Code::invalid, st.message(),
                "The file must be in the AWS shared-credentials format: a \"[profile]\" line, then "
                "\"aws_access_key_id = ...\" and \"aws_secret_access_key = ...\".");
        return st;
    }
    if (!present)
        return Status::error(Code::invalid, file + " does not exist",
            "Create the file, or set walvault.s3_credentials_file to an existing file or to ''.");
    const Section* section = find_profile(*sections, profile.name, false);
    if (section == nullptr)
        return Status::error(Code::invalid, "profile " + in_quotes(profile.name) + " not found in " + file,
            "Add a \"[" + profile.name + "]\" section to the file, or set walvault.s3_profile to a profile it has.");
    const std::string where = "profile " + in_quotes(profile.name) + " in " + file;
    bool found = false;
    st = static_keys(*section, where, found, out);
    if (!st.is_ok())
        return st;
    if (!found)
        return Status::error(Code::invalid, where + " has no \"aws_access_key_id\" and \"aws_secret_access_key\"",
            "Add both keys to the profile.");
    out.source = file + " profile " + in_quotes(profile.name);
    return Status::ok();
}

Status CredentialProvider::State::from_environment(bool& found, AwsCredentials& out, std::vector<std::string>& places)
{
    found = false;
    const auto id = env_value(options, "AWS_ACCESS_KEY_ID");
    const auto secret = env_value(options, "AWS_SECRET_ACCESS_KEY");
    if (id && secret) {
        out.access_key_id = *id;
        out.secret_access_key = *secret;
        out.session_token = env_value(options, "AWS_SESSION_TOKEN").value_or("");
        out.expiration.reset();
        out.source = "environment";
        found = true;
        return Status::ok();
    }
    const char* k_hint = "Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, or neither.";
    if (id)
        return Status::error(Code::invalid, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", k_hint);
    if (secret)
        return Status::error(Code::invalid, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not", k_hint);
    places.push_back("environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set)");
    return Status::ok();
}

Status CredentialProvider::State::from_shared_files(
    const ProfileChoice& profile, bool& found, AwsCredentials& out, std::vector<std::string>& places)
{
    found = false;
    struct SharedFile {
        const char* label;
        const char* variable;
        const char* name;
        bool config_format;
    };
    static const SharedFile k_files[] = {
        {"shared credentials file", "AWS_SHARED_CREDENTIALS_FILE", "credentials", false},
        {"config file", "AWS_CONFIG_FILE", "config", true},
    };
    bool profile_seen = false;
    std::vector<std::string> paths;
    for (const SharedFile& f : k_files) {
        const auto path = shared_file_path(options, f.variable, f.name);
        if (!path) {
            places.push_back(std::string(f.label) + " (HOME is not set)");
            continue;
        }
        paths.push_back(in_quotes(*path));
        const std::string file = std::string(f.label) + " " + in_quotes(*path);
        bool present = false;
        std::shared_ptr<const IniSections> sections;
        Status st = load_ini(*path, present, sections);
        if (!st.is_ok()) {
            if (st.hint().empty())
                return Status::error(st.code(), st.message(),
                    "Fix the " + std::string(f.label) + ", or point " + f.variable + " at another file.");
            return st;
        }
        if (!present) {
            places.push_back(file + " (no such file)");
            continue;
        }
        const Section* section = find_profile(*sections, profile.name, f.config_format);
        if (section == nullptr) {
            places.push_back(file + " (no profile " + in_quotes(profile.name) + ")");
            continue;
        }
        profile_seen = true;
        st = static_keys(*section, "profile " + in_quotes(profile.name) + " in " + file, found, out);
        if (!st.is_ok())
            return st;
        if (found) {
            out.source = file + " profile " + in_quotes(profile.name);
            return Status::ok();
        }
        places.push_back(file + " (profile " + in_quotes(profile.name) + " has no keys)");
    }
    // Like the AWS CLI: a profile asked for by name must exist, rather than other credentials being used.
    if (profile.explicit_choice && !profile_seen)
        return Status::error(Code::invalid,
            "profile " + in_quotes(profile.name) + " not found" + (paths.empty() ? "" : " in " + join(paths, " or ")),
            "Add the profile to ~/.aws/credentials or ~/.aws/config, or set AWS_PROFILE or walvault.s3_profile to a "
            "profile that exists.");
    return Status::ok();
}

RemoteResult CredentialProvider::State::from_endpoint(const RemoteConfig& config)
{
    std::unique_lock lock(remote_mutex);
    for (;;) {
        const TimePoint now = options.now();
        RemoteCache& c = remote;
        const bool same = c.valid && c.config == config;
        const bool usable = same && c.result.found && now < c.must_refresh;
        if (usable && (now < c.next_refresh || refreshing))
            return c.result;  // fresh enough, or another thread is already fetching new ones
        if (same && !c.result.found && now < c.retry_at)
            return c.result;  // the last fetch failed a moment ago: do not hammer the endpoint
        if (refreshing) {
            remote_cv.wait(lock);  // bounded: the fetching thread's requests all have timeouts
            continue;
        }

        refreshing = true;
        lock.unlock();
        RemoteResult fresh = fetch_remote(config);
        lock.lock();
        refreshing = false;
        remote_cv.notify_all();

        const TimePoint after = options.now();
        if (fresh.found) {
            c.valid = true;
            c.config = config;
            c.result = fresh;
            if (const auto& expiration = fresh.credentials.expiration) {
                // If the endpoint hands out credentials that already look near their end (our clock may be ahead,
                // or EC2 has not rotated yet), use them a little and ask again, but not in a tight loop.
                c.next_refresh = std::max(*expiration - k_refresh_before_expiry, after + k_min_refresh_interval);
                c.must_refresh = std::max(*expiration - k_expiry_margin, c.next_refresh);
            } else {
                c.next_refresh = after + k_refresh_without_expiration;
                c.must_refresh = TimePoint::max();
            }
            return fresh;
        }
        if (c.valid && c.config == config && c.result.found && after < c.must_refresh) {
            c.next_refresh = after + k_failure_retry_interval;  // keep the old ones while they last
            return c.result;
        }
        c = RemoteCache{};
        c.valid = true;
        c.config = config;
        c.result = fresh;
        c.retry_at = after + k_failure_retry_interval;
        return fresh;
    }
}

Status CredentialProvider::State::get(AwsCredentials& out)
{
    const ProfileChoice profile = choose_profile(options);
    std::vector<std::string> places;
    AwsCredentials found_credentials;
    bool found = false;

    if (!options.credentials_file.empty()) {
        // Set on purpose: its problems are errors, never a reason to use other credentials.
        Status st = from_setting_file(profile, found_credentials);
        if (st.is_ok())
            out = std::move(found_credentials);
        return st;
    }
    places.push_back(std::string(k_setting_name) + " (not set)");

    Status st = from_environment(found, found_credentials, places);
    if (!st.is_ok() || found) {
        if (found)
            out = std::move(found_credentials);
        return st;
    }
    st = from_shared_files(profile, found, found_credentials, places);
    if (!st.is_ok() || found) {
        if (found)
            out = std::move(found_credentials);
        return st;
    }

    RemoteConfig config;
    st = remote_config(options, config);
    if (!st.is_ok())
        return st;
    if (config.kind != RemoteConfig::Kind::container)
        places.push_back("container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set)");
    if (config.kind == RemoteConfig::Kind::imds_disabled) {
        places.push_back("instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
    } else {
        RemoteResult result = from_endpoint(config);
        if (!result.status.is_ok())
            return result.status;
        if (result.found) {
            out = std::move(result.credentials);
            return Status::ok();
        }
        places.push_back(result.place);
    }
    return Status::error(Code::not_found, "no AWS credentials found: " + join(places, "; "),
        "Set walvault.s3_credentials_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment of "
        "the server or command, or add a profile to ~/.aws/credentials, or give the instance or container an IAM "
        "role.");
}

CredentialProvider::CredentialProvider(CredentialOptions options)
    : m_state(std::make_unique<State>(std::move(options)))
{
}

CredentialProvider::~CredentialProvider() = default;

Status CredentialProvider::get(AwsCredentials& out) noexcept
{
    try {
        return m_state->get(out);
    } catch (const std::bad_alloc&) {
        return Status::error(Code::io_error, "out of memory while looking up AWS credentials");
    } catch (...) {
        return Status::error(Code::io_error, "unexpected error while looking up AWS credentials");
    }
}

std::optional<std::string> profile_region(const CredentialOptions& raw_options)
{
    try {
        const CredentialOptions options = with_defaults(raw_options);
        const auto path = shared_file_path(options, "AWS_CONFIG_FILE", "config");
        if (!path)
            return std::nullopt;
        bool present = false;
        IniSections sections;
        if (!load_ini_uncached(*path, present, sections).is_ok() || !present)
            return std::nullopt;
        const Section* section = find_profile(sections, choose_profile(options).name, true);
        if (section == nullptr)
            return std::nullopt;
        return section_value(*section, "region");
    } catch (...) {
        return std::nullopt;
    }
}

}  // namespace walvault
