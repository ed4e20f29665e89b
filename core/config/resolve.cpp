// Tool settings: one table of names, three sources. The environment and config file use the names of the
// module's GUCs so that one mental model covers postgresql.conf, the shell and /etc/walvault.
#include "core/config/resolve.h"

#include "core/common/text.h"
#include "core/config/settings.h"
#include "core/storage/storage.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace walvault {
namespace {

std::string env_name(const std::string& name)
{
    std::string out = "WALVAULT_";
    for (char c : name)
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return out;
}

bool known(const std::string& name)
{
    const auto& all = tool_settings();
    return std::any_of(all.begin(), all.end(), [&](const SettingInfo& s) { return name == s.name; });
}

}  // namespace

const std::vector<SettingInfo>& tool_settings()
{
    static const std::string k_repo_help = "repository: " + storage_scheme_forms();
    static const std::vector<SettingInfo> k_all = {
        {"repo", k_repo_help.c_str()},
        {"compression", "codec of written objects: \"none\", \"zstd\" or \"zstd:LEVEL\" (default zstd:3)"},
        {"parallel", "files in flight at once (default 2)"},
        {"s3_endpoint", "S3-compatible endpoint URL (default: AWS_ENDPOINT_URL, else AWS for the region)"},
        {"s3_region", "S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1)"},
        {"s3_uri_style", "\"host\" or \"path\" (default: path with an endpoint, host for AWS)"},
        {"s3_ca_file", "PEM file of the CAs that sign the endpoint's certificate"},
        {"s3_sse", "server-side encryption: \"AES256\" or \"aws:kms\""},
        {"s3_sse_kms_key_id", "KMS key for s3_sse = aws:kms"},
        {"s3_storage_class", "storage class of written objects"},
        {"s3_credentials_file", "credentials file in the AWS shared-credentials format"},
        {"s3_profile", "profile in the credentials files (default: AWS_PROFILE, else default)"},
        {"s3_part_size", "multipart part size in MB (default 32)"},
        {"prefetch", "wal-fetch: WAL segments to download ahead of recovery (default 16; 0 turns prefetch off)"},
        {"part_size", "backup: files larger than this many MiB are stored in parts of this size (default 64)"},
    };
    return k_all;
}

Status parse_config_file(const std::string& path, const std::string& text, ResolvedSettings& out)
{
    std::istringstream in(text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        line = std::string(trim(line));
        if (line.empty() || line.front() == '#')
            continue;
        const size_t eq = line.find('=');
        const std::string where = path + ":" + std::to_string(number);
        if (eq == std::string::npos)
            return Status::error(Code::invalid, "syntax error in \"" + where + "\": expected name = value");
        std::string name(trim(std::string_view(line).substr(0, eq)));
        std::string value(trim(std::string_view(line).substr(eq + 1)));
        if (name.rfind("walvault.", 0) == 0)  // postgresql.conf habits are welcome
            name = name.substr(9);
        if (!known(name))
            return Status::error(Code::invalid, "unknown setting \"" + name + "\" in \"" + where + "\"",
                "Settings are named as in postgresql.conf without the \"walvault.\" prefix, e.g. repo.");
        if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front())
            value = value.substr(1, value.size() - 2);
        out[name] = SettingValue{value, where};
    }
    return Status::ok();
}

Status resolve_settings(const std::map<std::string, std::string>& flags, const std::string& config_path,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, ResolvedSettings& out)
{
    out.clear();
    std::string path = config_path;
    bool required = !path.empty();
    if (path.empty()) {
        if (auto v = getenv("WALVAULT_CONFIG")) {
            path = *v;
            required = true;
        } else {
            path = k_default_config_file;
        }
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 || required) {
        std::ifstream f(path);
        if (!f)
            return Status::error(Code::invalid, "could not read config file \"" + path + "\": " + errno_text(errno));
        std::stringstream text;
        text << f.rdbuf();
        Status s = parse_config_file(path, text.str(), out);
        if (!s.is_ok())
            return s;
    }
    for (const SettingInfo& info : tool_settings()) {
        if (auto v = getenv(env_name(info.name)))
            out[info.name] = SettingValue{*v, env_name(info.name)};
        if (auto f = flags.find(info.name); f != flags.end())
            out[info.name] = SettingValue{f->second, "--" + std::string(info.name)};
    }
    // The checks the module's GUCs make, naming where a bad value came from.
    for (const auto& [name, v] : out) {
        std::string message, hint;
        if (!check_setting(name, v.value, true, message, hint))
            return Status::error(Code::invalid, message + " (from " + v.source + ")", hint);
    }
    if (auto p = out.find("s3_part_size"); p != out.end() && !p->second.value.empty()) {
        uint64_t mb = 0;
        const std::string& v = p->second.value;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), mb);
        if (ec != std::errc() || end != v.data() + v.size())
            return Status::error(
                Code::invalid, "s3_part_size must be a number of megabytes (from " + p->second.source + ")");
    }
    if (auto p = out.find("parallel"); p != out.end() && !p->second.value.empty()) {
        int n = 0;
        const std::string& v = p->second.value;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > k_max_parallel)
            return Status::error(Code::invalid,
                "parallel must be a number from 1 to " + std::to_string(k_max_parallel) + " (from " + p->second.source +
                    ")");
    }
    if (auto p = out.find("prefetch"); p != out.end() && !p->second.value.empty()) {
        constexpr int k_max_prefetch = 1024;  // segments: 16 GiB of pg_wal with 16 MiB segments
        int n = 0;
        const std::string& v = p->second.value;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size() || n < 0 || n > k_max_prefetch)
            return Status::error(Code::invalid,
                "prefetch must be a number from 0 to " + std::to_string(k_max_prefetch) + " (from " + p->second.source +
                    ")");
    }
    if (auto p = out.find("part_size"); p != out.end() && !p->second.value.empty()) {
        constexpr int k_max_part_size_mib = 1024;  // a relation segment: larger parts share nothing
        int n = 0;
        const std::string& v = p->second.value;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > k_max_part_size_mib)
            return Status::error(Code::invalid,
                "part_size must be a number of MiB from 1 to " + std::to_string(k_max_part_size_mib) + " (from " +
                    p->second.source + ")");
    }
    return Status::ok();
}

std::string setting(const ResolvedSettings& settings, const std::string& name)
{
    auto it = settings.find(name);
    return it == settings.end() ? std::string() : it->second.value;
}

StorageOptions storage_options(const ResolvedSettings& s)
{
    StorageOptions o;
    o.s3_endpoint = setting(s, "s3_endpoint");
    o.s3_region = setting(s, "s3_region");
    o.s3_uri_style = setting(s, "s3_uri_style");
    o.s3_ca_file = setting(s, "s3_ca_file");
    o.s3_sse = setting(s, "s3_sse");
    o.s3_sse_kms_key_id = setting(s, "s3_sse_kms_key_id");
    o.s3_storage_class = setting(s, "s3_storage_class");
    o.s3_credentials_file = setting(s, "s3_credentials_file");
    o.s3_profile = setting(s, "s3_profile");
    const std::string mb = setting(s, "s3_part_size");
    o.s3_part_size = mb.empty() ? 0 : std::stoull(mb) * 1024 * 1024;
    return o;
}

}  // namespace walvault
