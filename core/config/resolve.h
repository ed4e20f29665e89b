// Settings for the walvault tool, from the same names as the module's GUCs: flag --NAME (or --NA-ME),
// environment WALVAULT_NAME, config-file key NAME; the first that is set wins, in that order.
#pragma once

#include "core/common/status.h"
#include "core/storage/storage.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace walvault {

constexpr const char* k_default_config_file = "/etc/walvault/walvault.conf";  // read if it exists

struct SettingInfo {
    const char* name;  // as in walvault.NAME, --NAME, WALVAULT_NAME and the config file
    const char* help;
};

// Every setting the tool takes, in one table (docs/configuration.md documents them).
const std::vector<SettingInfo>& tool_settings();

// A resolved value and where it came from ("--repo", "WALVAULT_REPO", "/etc/walvault/walvault.conf:3").
struct SettingValue {
    std::string value;
    std::string source;
};
using ResolvedSettings = std::map<std::string, SettingValue>;

// Parses a config file: "name = value" lines, '#' comments, blank lines, values optionally in single or
// double quotes. Unknown names are an error naming the file and line.
Status parse_config_file(const std::string& path, const std::string& text, ResolvedSettings& out);

// Resolves every tool setting from flags (name -> value, only those given), the environment, and the
// config file: config_path if given (it must exist), else WALVAULT_CONFIG, else k_default_config_file if
// it exists.
Status resolve_settings(const std::map<std::string, std::string>& flags, const std::string& config_path,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, ResolvedSettings& out);

// The storage options and repository location a resolved set names.
StorageOptions storage_options(const ResolvedSettings& settings);
std::string setting(const ResolvedSettings& settings, const std::string& name);

}  // namespace walvault
