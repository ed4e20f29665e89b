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

std::string setting_env_name(const std::string& name)
{
    std::string out = "WALVAULT_";
    for (char c : name)
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return out;
}

std::vector<const SettingDef*> tool_settings(unsigned use)
{
    std::vector<const SettingDef*> out;
    for (const SettingDef& def : all_settings())
        if (def.used_by(use))
            out.push_back(&def);
    return out;
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
        const SettingDef* def = find_setting(name);
        if (def != nullptr && !def->is_tool_setting())
            return Status::error(Code::invalid,
                "setting \"" + name + "\" in \"" + where + "\" is read by the archive module only",
                "Set walvault." + name + " in postgresql.conf; the walvault tool does not use it.");
        if (def == nullptr)
            return Status::error(Code::invalid, "unknown setting \"" + name + "\" in \"" + where + "\"",
                "Settings are named as in postgresql.conf without the \"walvault.\" prefix, e.g. repo.");
        if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front())
            value = value.substr(1, value.size() - 2);
        out[name] = SettingValue{value, where};
    }
    return Status::ok();
}

Status resolve_settings(const std::map<std::string, std::string>& flags, const std::string& config_path,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, unsigned use, ResolvedSettings& out)
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
        ResolvedSettings file;
        Status s = parse_config_file(path, text.str(), file);
        if (!s.is_ok())
            return s;
        for (auto& [name, v] : file)  // what this command does not read stays unread, and unchecked
            if (find_setting(name)->used_by(use))
                out[name] = std::move(v);
    }
    for (const SettingDef* def : tool_settings(use)) {
        const std::string env = setting_env_name(def->name);
        if (auto v = getenv(env))
            out[def->name] = SettingValue{*v, env};
        if (auto f = flags.find(def->name); f != flags.end())
            out[def->name] = SettingValue{f->second, "--" + std::string(def->name)};
    }
    // The checks the module's GUCs make, naming where a bad value came from. Empty is unset for text
    // settings; an integer must be a number, with a unit if it has one ("14d"), and is kept in its unit.
    for (auto& [name, v] : out) {
        std::string message, hint;
        const SettingDef* def = find_setting(name);
        if (v.value.empty() && def->type == SettingType::text)
            continue;
        if (!check_setting(name, v.value, true, message, hint))
            return Status::error(Code::invalid, message + " (from " + v.source + ")", hint);
        int64_t n = 0;
        if (def->type == SettingType::integer && parse_setting_quantity(v.value, def->unit, n, message))
            v.value = std::to_string(n);
    }
    return Status::ok();
}

std::string setting(const ResolvedSettings& settings, const std::string& name)
{
    auto it = settings.find(name);
    return it == settings.end() ? std::string() : it->second.value;
}

int64_t setting_int(const ResolvedSettings& settings, const std::string& name)
{
    const std::string v = setting(settings, name);
    int64_t n = 0;
    if (v.empty() || std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc())
        return setting_default_int(name, true);
    return n;
}

StorageOptions storage_options(const ResolvedSettings& s)
{
    StorageOptions o;
    for (const SettingDef& def : all_settings())
        if (def.backend != nullptr)
            if (auto it = s.find(def.name); it != s.end())
                o.settings[def.name] = it->second.value;
    return o;
}

}  // namespace walvault
