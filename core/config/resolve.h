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

// The tool settings (core/config/settings.h, all_settings()) that take the SettingUse bits of use.
std::vector<const SettingDef*> tool_settings(unsigned use);
// WALVAULT_NAME for setting NAME.
std::string setting_env_name(const std::string& name);

// A resolved value and where it came from ("--repo", "WALVAULT_REPO", "/etc/walvault/walvault.conf:3").
struct SettingValue {
    std::string value;
    std::string source;
};
using ResolvedSettings = std::map<std::string, SettingValue>;

// Parses a config file: "name = value" lines, '#' comments, blank lines, values optionally in single or
// double quotes. A name that is no tool setting is an error naming the file and line; one file serves every
// command, so it may set what only some commands read.
Status parse_config_file(const std::string& path, const std::string& text, ResolvedSettings& out);

// Resolves the settings a command takes (use: its SettingUse bit) from flags (name -> value, only those
// given), the environment, and the config file: config_path if given (it must exist), else WALVAULT_CONFIG,
// else k_default_config_file if it exists. Values are checked as the module's GUCs are (check_setting),
// naming where a bad one came from; settings that are not set are absent.
Status resolve_settings(const std::map<std::string, std::string>& flags, const std::string& config_path,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, unsigned use, ResolvedSettings& out);

// The storage options a resolved set gives: the values of the backends' settings.
StorageOptions storage_options(const ResolvedSettings& settings);
// A resolved value; "" if not set.
std::string setting(const ResolvedSettings& settings, const std::string& name);
// A resolved integer setting, else its tool default (the value was checked by resolve_settings).
int64_t setting_int(const ResolvedSettings& settings, const std::string& name);

}  // namespace walvault
