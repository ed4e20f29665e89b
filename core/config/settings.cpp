// Setting validation, shared so the module's GUC check hooks and the tool say the same thing.
#include "core/config/settings.h"

#include "core/storage/storage.h"

#include <unistd.h>

#include <cerrno>
#include <initializer_list>

namespace walvault {

bool check_repo_setting(std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    if (value.empty())
        return true;
    if (const StorageScheme* scheme = find_storage_scheme(value))
        return scheme->check(value, check_access, message, hint);
    message = "walvault.repo must be " + storage_scheme_forms();
    hint = "Use " + storage_scheme_examples() + ".";
    return false;
}

bool check_compression_setting(std::string_view value, std::string& message, std::string& hint)
{
    std::string error;
    if (Compression::parse(value, &error))
        return true;
    message = error;
    hint = "Use \"none\", \"zstd\" or \"zstd:LEVEL\" with LEVEL from 1 to 19.";
    return false;
}

namespace {

bool check_choice(std::string_view name, std::string_view value, std::initializer_list<std::string_view> choices,
    std::string& message, std::string& hint)
{
    std::string list;
    for (std::string_view c : choices) {
        if (value == c)
            return true;
        list +=
            (list.empty() ? "" : ", ") + (c.empty() ? std::string("'' (the default)") : "\"" + std::string(c) + "\"");
    }
    message = "unknown walvault." + std::string(name) + " \"" + std::string(value) + "\"";
    hint = "Valid values are " + list + ".";
    return false;
}

bool check_readable_file(
    std::string_view name, std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    if (value.empty())
        return true;
    if (value.front() != '/') {
        message = "walvault." + std::string(name) + " must be an absolute file path";
        hint = "Use a path such as \"/etc/walvault/" + std::string(name == "s3_ca_file" ? "ca.pem" : "credentials") +
            "\".";
        return false;
    }
    if (check_access && ::access(std::string(value).c_str(), R_OK) != 0) {
        message = "could not read file \"" + std::string(value) + "\": " + errno_text(errno);
        hint = "Give the operating-system user that runs the server read access to it.";
        return false;
    }
    return true;
}

}  // namespace

bool check_setting(
    std::string_view name, std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    if (name == "repo")
        return check_repo_setting(value, check_access, message, hint);
    if (name == "compression")
        return check_compression_setting(value, message, hint);
    if (name == "s3_uri_style")
        return check_choice(name, value, {"", "host", "path"}, message, hint);
    if (name == "s3_sse")
        return check_choice(name, value, {"", "AES256", "aws:kms"}, message, hint);
    if (name == "s3_ca_file" || name == "s3_credentials_file")
        return check_readable_file(name, value, check_access, message, hint);
    if (name == "s3_endpoint" && !value.empty()) {
        const bool scheme = value.rfind("http://", 0) == 0 || value.rfind("https://", 0) == 0;
        std::string_view rest = value.substr(value.find("://") == std::string_view::npos ? 0 : value.find("://") + 3);
        while (!rest.empty() && rest.back() == '/')
            rest.remove_suffix(1);
        if (!scheme || rest.empty() || rest.find_first_of("/@?#") != std::string_view::npos) {
            message = "invalid walvault.s3_endpoint \"" + std::string(value) + "\"";
            hint = "Use a URL with scheme, host and optional port only, such as \"https://minio.internal:9000\".";
            return false;
        }
    }
    return true;
}

}  // namespace walvault
