// The checks every setting gets from its declaration, and helpers for the checks of particular ones.
#include "core/common/setting_def.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace walvault {

bool check_setting_value(
    const SettingDef& def, std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    if (def.type == SettingType::integer) {
        int64_t n = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < def.min || n > def.max) {
            const char* unit = def.unit == SettingUnit::ms ? " of milliseconds"
                : def.unit == SettingUnit::mb              ? " of MB"
                                                           : "";
            message = std::string(def.name) + " must be a number" + unit + " from " + std::to_string(def.min) + " to " +
                std::to_string(def.max) + ", not \"" + std::string(value) + "\"";
            hint = std::string("The default is ") + def.default_for_tool() + ".";
            return false;
        }
    }
    return def.check == nullptr || def.check(value, check_access, message, hint);
}

bool check_setting_choice(std::string_view name, std::string_view value,
    std::initializer_list<std::string_view> choices, std::string& message, std::string& hint)
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

bool check_setting_readable_file(std::string_view name, std::string_view value, std::string_view example,
    bool check_access, std::string& message, std::string& hint)
{
    if (value.empty())
        return true;
    if (value.front() != '/') {
        message = "walvault." + std::string(name) + " must be an absolute file path";
        hint = "Use a path such as \"" + std::string(example) + "\".";
        return false;
    }
    if (check_access && ::access(std::string(value).c_str(), R_OK) != 0) {
        message = "could not read file \"" + std::string(value) + "\": " + errno_text(errno);
        hint = "Give the operating-system user that runs the server read access to it.";
        return false;
    }
    return true;
}

}  // namespace walvault
