// The AWS credentials chain of the S3 driver: walvault.s3_credentials_file, the environment, the shared ~/.aws
// files, container credentials (ECS, EKS Pod Identity) and EC2 instance metadata (IMDSv2 only), in that order.
// Thread-safe: temporary credentials are cached and refreshed by one thread a few minutes before they expire.
#pragma once

#include "core/common/status.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace walvault {

// Endpoints: "Container credential provider" and "IMDS credential provider" in the AWS SDKs and Tools reference.
constexpr const char* k_container_credentials_host =
    "http://169.254.170.2";                                        // + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
constexpr const char* k_imds_endpoint = "http://169.254.169.254";  // AWS_EC2_METADATA_SERVICE_ENDPOINT
constexpr const char* k_imds_token_path = "/latest/api/token";
constexpr const char* k_imds_credentials_path = "/latest/meta-data/iam/security-credentials/";

// Instance metadata is link-local: it answers at once or not at all.
constexpr auto k_imds_connect_timeout = std::chrono::seconds(1);
constexpr auto k_imds_request_timeout = std::chrono::seconds(2);
constexpr int k_imds_attempts = 2;                           // per request
constexpr auto k_imds_token_ttl = std::chrono::seconds(60);  // used at once for two GETs, then dropped (max 21600)
constexpr auto k_container_connect_timeout = std::chrono::seconds(1);
constexpr auto k_container_request_timeout = std::chrono::seconds(2);  // as botocore's ContainerMetadataFetcher
constexpr int k_container_attempts = 3;                                // as botocore's ContainerMetadataFetcher

// Temporary credentials: from k_refresh_before_expiry before their Expiration one thread fetches new ones while
// the others go on using the old; from k_expiry_margin before it nobody uses them (a request signed now must still
// reach the store in time). EC2 publishes new credentials at least 5 minutes before the old expire.
constexpr auto k_refresh_before_expiry = std::chrono::minutes(5);
constexpr auto k_expiry_margin = std::chrono::minutes(1);
constexpr auto k_min_refresh_interval = std::chrono::seconds(30);        // never ask an endpoint more often
constexpr auto k_failure_retry_interval = std::chrono::seconds(5);       // a failed fetch is answered from memory
constexpr auto k_refresh_without_expiration = std::chrono::minutes(15);  // an answer without "Expiration"
constexpr size_t k_max_credentials_file_bytes = 1024UL * 1024;           // credentials files are a few hundred bytes

struct AwsCredentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;                                        // empty for long-term keys
    std::optional<std::chrono::system_clock::time_point> expiration;  // set for temporary credentials only
    std::string source;  // where they came from, for messages: "environment", "shared credentials file \"...\" ..."
};

// Looks an environment variable up; nullopt when unset. An empty value counts as unset everywhere.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
using WallClock = std::function<std::chrono::system_clock::time_point()>;

struct CredentialOptions {
    std::string credentials_file;  // walvault.s3_credentials_file; empty = not set
    std::string profile;  // walvault.s3_profile, for that file and ~/.aws/*; empty: AWS_PROFILE, else "default"
    EnvLookup getenv;     // empty: ::getenv
    WallClock now;        // empty: std::chrono::system_clock::now
    std::string container_host = k_container_credentials_host;  // base of the relative URI; tests point it at a stub
};

// Resolves credentials through the chain on every get(): the files by a stat (re-read when they change), the
// environment by a look-up, the endpoints from memory until their credentials need a refresh. Safe to share
// between threads; only one thread at a time talks to an endpoint, the others wait for its answer or keep using
// credentials that are still valid.
class CredentialProvider {
public:
    explicit CredentialProvider(CredentialOptions options);
    ~CredentialProvider();
    CredentialProvider(const CredentialProvider&) = delete;
    CredentialProvider& operator=(const CredentialProvider&) = delete;

    // The credentials of the first source that has them, with `source` set. Errors: Code::not_found when no
    // source has any (the message names every place looked at); Code::invalid for a source that is set up but
    // wrong (partial keys, a missing profile, a bad file); Code::io_error or Code::corrupt when an endpoint that
    // is configured fails. No message or hint ever contains a secret key, session token or endpoint token.
    Status get(AwsCredentials& out) noexcept;

private:
    struct State;
    std::unique_ptr<State> m_state;
};

// The `region` of the selected profile in the AWS config file (AWS_CONFIG_FILE, else ~/.aws/config), or
// nullopt when there is none or the file cannot be read. The profile is chosen as for the credentials.
std::optional<std::string> profile_region(const CredentialOptions& options);

// ---- the pieces, exposed for the tests ----------------------------------------------------------------

// Section name (trimmed, case kept) -> lower-cased key -> value. Repeated sections merge, a later key wins.
using IniSections = std::map<std::string, std::map<std::string, std::string>>;

// Parses the AWS shared config/credentials INI format: [section], "key = value", whole-line comments and
// comments after whitespace in a value (# or ;), blank lines, CRLF, a UTF-8 BOM; more indented lines after a
// key without a value ("s3 =") are its nested sub-settings and are skipped. On a malformed line:
// Code::invalid naming the line number only, never its text (it may hold a secret).
Status parse_aws_ini(std::string_view text, IniSections& out);

// The section of `profile` in a credentials file ("[name]") or, with config_format, in a config file
// ("[profile name]", and "[default]" or "[profile default]" for the default profile); nullptr if absent.
const std::map<std::string, std::string>* find_profile(
    const IniSections& sections, const std::string& profile, bool config_format);

// An ISO 8601 time as the credential endpoints write it: "2024-05-01T12:00:00Z", with optional fractional
// seconds and a "Z" or "+hh:mm" zone (required). nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parse_aws_timestamp(std::string_view text);

}  // namespace walvault
