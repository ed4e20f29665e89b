// The checks every setting gets from its declaration, and helpers for the checks of particular ones.
#include "core/common/setting_def.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <limits>
#include <span>

namespace walvault {
namespace {

struct UnitFactor {
    std::string_view name;
    double in_base;  // how many of the kind's base unit (microseconds, bytes) one of it is
};

constexpr UnitFactor k_time_units[] = {
    {"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"min", 60e6}, {"h", 3600e6}, {"d", 86400e6}};
constexpr UnitFactor k_memory_units[] = {
    {"B", 1}, {"kB", 1024.0}, {"MB", 1048576.0}, {"GB", 1073741824.0}, {"TB", 1099511627776.0}};

std::string_view unit_text(SettingUnit unit)
{
    return unit == SettingUnit::ms ? "ms" : unit == SettingUnit::s ? "s" : unit == SettingUnit::mb ? "MB" : "";
}

bool is_time(SettingUnit unit)
{
    return unit == SettingUnit::ms || unit == SettingUnit::s;
}

std::span<const UnitFactor> units_of(SettingUnit unit)
{
    if (is_time(unit))
        return k_time_units;
    return k_memory_units;
}

double factor_of(SettingUnit unit)
{
    const std::string_view name = unit_text(unit);
    for (const UnitFactor& u : units_of(unit))
        if (u.name == name)
            return u.in_base;
    return 1;
}

}  // namespace

bool parse_setting_quantity(std::string_view text, SettingUnit unit, int64_t& value, std::string& error)
{
    int64_t n = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, n);
    if (text.empty() || ec != std::errc()) {
        error = "\"" + std::string(text) + "\" is not a whole number";
        return false;
    }
    while (p != end && (*p == ' ' || *p == '\t'))
        p++;
    const std::string_view suffix(p, static_cast<size_t>(end - p));
    if (suffix.empty()) {
        value = n;
        return true;
    }
    std::string valid;
    if (unit != SettingUnit::none) {
        for (const UnitFactor& u : units_of(unit)) {
            if (u.name == suffix) {
                const double converted = std::round(static_cast<double>(n) * u.in_base / factor_of(unit));
                if (std::fabs(converted) >= 9.2e18) {
                    error = "\"" + std::string(text) + "\" is out of range";
                    return false;
                }
                value = static_cast<int64_t>(converted);
                return true;
            }
            valid += (valid.empty() ? "\"" : ", \"") + std::string(u.name) + "\"";
        }
        error = "unit \"" + std::string(suffix) + "\" is not valid; valid units are " + valid;
    } else {
        error = "\"" + std::string(text) + "\" is not a whole number";
    }
    return false;
}

std::string format_setting_quantity(int64_t value, SettingUnit unit)
{
    if (unit == SettingUnit::none)
        return std::to_string(value);
    const double base = factor_of(unit);
    std::string_view best = unit_text(unit);
    int64_t shown = value;
    if (value != 0) {
        for (const UnitFactor& u : units_of(unit)) {
            if (u.in_base < base)
                continue;
            const int64_t per = static_cast<int64_t>(u.in_base / base);
            if (value % per == 0) {
                best = u.name;
                shown = value / per;
            }
        }
    }
    return std::to_string(shown) + std::string(best);
}

bool check_setting_value(
    const SettingDef& def, std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    if (def.type == SettingType::integer) {
        int64_t n = 0;
        std::string why;
        if (!parse_setting_quantity(value, def.unit, n, why) || n < def.min || n > def.max) {
            const char* unit = def.unit == SettingUnit::ms ? " of milliseconds"
                : def.unit == SettingUnit::s               ? " of seconds"
                : def.unit == SettingUnit::mb              ? " of MB"
                                                           : "";
            message = std::string(def.name) + " must be a number" + unit + " from " + std::to_string(def.min) + " to " +
                std::to_string(def.max) + ", not \"" + std::string(value) + "\"";
            hint = std::string("The default is ") + def.default_for_tool() + ".";
            if (def.unit != SettingUnit::none)
                hint += " A unit may follow the number, as in postgresql.conf: " +
                    std::string(
                        is_time(def.unit) ? "\"90s\", \"5min\", \"2h\", \"14d\"." : "\"512kB\", \"64MB\", \"1GB\".");
            return false;
        }
        // The check sees the number in the setting's unit, whatever unit the value was written in.
        return def.check == nullptr || def.check(std::to_string(n), check_access, message, hint);
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
