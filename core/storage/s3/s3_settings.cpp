// The walvault.s3_* settings: one row each (name, type, default, range, who may see it, help, check).
#include "core/storage/s3/s3_settings.h"

#include <charconv>

namespace walvault {
namespace {

bool check_endpoint(std::string_view value, bool, std::string& message, std::string& hint)
{
    if (value.empty())
        return true;
    const bool scheme = value.starts_with("http://") || value.starts_with("https://");
    std::string_view rest = value.substr(value.find("://") == std::string_view::npos ? 0 : value.find("://") + 3);
    while (!rest.empty() && rest.back() == '/')
        rest.remove_suffix(1);
    if (!scheme || rest.empty() || rest.find_first_of("/@?#") != std::string_view::npos) {
        message = "invalid walvault.s3_endpoint \"" + std::string(value) + "\"";
        hint = "Use a URL with scheme, host and optional port only, such as \"https://minio.internal:9000\".";
        return false;
    }
    return true;
}

bool check_uri_style(std::string_view value, bool, std::string& message, std::string& hint)
{
    return check_setting_choice("s3_uri_style", value, {"", "host", "path"}, message, hint);
}

bool check_sse(std::string_view value, bool, std::string& message, std::string& hint)
{
    return check_setting_choice("s3_sse", value, {"", "AES256", "aws:kms"}, message, hint);
}

bool check_ca_file(std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    return check_setting_readable_file("s3_ca_file", value, "/etc/walvault/ca.pem", check_access, message, hint);
}

bool check_credentials_file(std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    return check_setting_readable_file(
        "s3_credentials_file", value, "/etc/walvault/credentials", check_access, message, hint);
}

// S3 takes parts of 5 MiB to 5 GiB; 0 is the default.
bool check_part_size(std::string_view value, bool, std::string& message, std::string& hint)
{
    int64_t mb = 0;
    std::from_chars(value.data(), value.data() + value.size(), mb);  // a number: check_setting_value saw to it
    if (mb == 0 || mb >= 5)
        return true;
    message = "S3 parts are at least 5MB.";
    hint = "Set walvault.s3_part_size to 0 for the default (32MB) or to 5MB or more.";
    return false;
}

constexpr unsigned k_s3_uses = k_use_everywhere;
constexpr unsigned k_s3_write_uses =
    k_use_module | k_use_backup | k_use_wal_push | k_use_receive;  // what writes objects reads them

constexpr SettingDef k_s3_settings[] = {
    {.name = "s3_endpoint",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_uses,
        .superuser_only = true,
        .help = "S3-compatible endpoint URL; empty means AWS_ENDPOINT_URL, else AWS for the region",
        .check = check_endpoint,
        .backend = "s3"},
    {.name = "s3_region",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_uses,
        .help = "S3 region; empty means AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1",
        .backend = "s3"},
    {.name = "s3_uri_style",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_uses,
        .help = "S3 addressing: \"host\" (bucket.endpoint) or \"path\" (endpoint/bucket); empty means path with an "
                "endpoint, host for AWS",
        .check = check_uri_style,
        .backend = "s3"},
    {.name = "s3_ca_file",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_uses,
        .superuser_only = true,
        .help = "PEM file of the certificate authorities that sign the S3 endpoint's certificate",
        .check = check_ca_file,
        .backend = "s3"},
    {.name = "s3_sse",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_write_uses,
        .help = "S3 server-side encryption: \"AES256\" or \"aws:kms\"; empty means the bucket's default",
        .check = check_sse,
        .backend = "s3"},
    {.name = "s3_sse_kms_key_id",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_write_uses,
        .superuser_only = true,
        .help = "KMS key for s3_sse = aws:kms; empty means the account's default key",
        .backend = "s3"},
    {.name = "s3_storage_class",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_write_uses,
        .help = "S3 storage class of written objects; empty means the bucket's default",
        .backend = "s3"},
    {.name = "s3_credentials_file",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_uses,
        .superuser_only = true,
        .help = "file with S3 keys in the AWS shared-credentials format, read before the environment and ~/.aws",
        .check = check_credentials_file,
        .backend = "s3"},
    {.name = "s3_profile",
        .type = SettingType::text,
        .default_value = "",
        .uses = k_s3_uses,
        .superuser_only = true,
        .help = "profile in the credentials files; empty means AWS_PROFILE, else \"default\"",
        .backend = "s3"},
    {.name = "s3_part_size",
        .type = SettingType::integer,
        .default_value = "0",
        .min = 0,
        .max = 5120,
        .unit = SettingUnit::mb,
        .uses = k_s3_write_uses,
        .help = "part size of S3 multipart uploads; larger objects are uploaded in parts. 0 means 32MB",
        .check = check_part_size,
        .backend = "s3"},
};

std::string value_of(const StorageOptions& options, const char* name)
{
    auto it = options.settings.find(name);
    return it == options.settings.end() ? std::string() : it->second;
}

}  // namespace

std::span<const SettingDef> s3_settings()
{
    return k_s3_settings;
}

Status s3_options(const StorageOptions& options, S3Options& out)
{
    out.endpoint = value_of(options, "s3_endpoint");
    out.region = value_of(options, "s3_region");
    out.uri_style = value_of(options, "s3_uri_style");
    out.ca_file = value_of(options, "s3_ca_file");
    out.sse = value_of(options, "s3_sse");
    out.sse_kms_key_id = value_of(options, "s3_sse_kms_key_id");
    out.storage_class = value_of(options, "s3_storage_class");
    out.credentials_file = value_of(options, "s3_credentials_file");
    out.profile = value_of(options, "s3_profile");
    const std::string mb = value_of(options, "s3_part_size");
    uint64_t n = 0;
    if (!mb.empty()) {
        auto [end, ec] = std::from_chars(mb.data(), mb.data() + mb.size(), n);
        if (ec != std::errc() || end != mb.data() + mb.size())
            return Status::error(Code::invalid, "invalid value for walvault.s3_part_size: \"" + mb + "\"",
                "Give a number of megabytes, 0 for the default (32MB).");
    }
    out.part_size = n * 1024 * 1024;
    return Status::ok();
}

}  // namespace walvault
