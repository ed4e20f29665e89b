// Renders the settings declarations as the reference tables of docs/configuration.md.
#include "core/config/settings_doc.h"

#include "core/config/resolve.h"
#include "core/config/settings.h"
#include "core/storage/storage.h"

#include <utility>
#include <vector>

namespace walvault {
namespace {

std::string code(const std::string& text)
{
    return "`" + (text.empty() ? std::string("''") : text) + "`";
}

std::string unit_name(SettingUnit unit)
{
    return unit == SettingUnit::ms ? "ms" : unit == SettingUnit::s ? "s" : unit == SettingUnit::mb ? "MB" : "";
}

std::string commands_of(const SettingDef& def)
{
    if ((def.uses & k_use_commands) == k_use_commands)
        return "every command";
    const std::pair<unsigned, const char*> names[] = {{k_use_backup, "backup"}, {k_use_list, "list"},
        {k_use_restore, "restore"}, {k_use_backup_delete, "backup-delete"}, {k_use_wal_fetch, "wal-fetch"},
        {k_use_expire, "expire"}, {k_use_pin, "backup-pin, backup-unpin"}, {k_use_check, "check"},
        {k_use_wal_push, "wal-push, repair"}, {k_use_verify, "verify"}, {k_use_receive, "receive"},
        {k_use_rekey, "rekey"}};
    std::string out;
    for (const auto& [bit, name] : names)
        if (def.used_by(bit))
            out += (out.empty() ? "" : ", ") + std::string(name);
    return out;
}

std::string row(const SettingDef& def)
{
    std::string where;
    if (def.is_guc())
        where = code(std::string("walvault.") + def.name) + (def.superuser_only ? " (superuser-only)" : "") + ", " +
            (def.needs_restart ? "restart" : "reload");
    if (def.is_tool_setting()) {
        std::string dashed = def.name;
        for (char& c : dashed)
            c = c == '_' ? '-' : c;
        where += (where.empty() ? "" : "<br>") + code("--" + dashed) + ", " + code(setting_env_name(def.name)) + ", " +
            code(def.name) + " in the config file: " + commands_of(def);
    } else {
        where += "<br>the archive module only";
    }
    std::string type = def.type == SettingType::integer ? "integer" : "string";
    if (def.unit != SettingUnit::none)
        type += ", " + unit_name(def.unit);
    std::string value = code(def.default_value);
    if (def.is_guc() && def.is_tool_setting() && std::string(def.default_for_tool()) != def.default_value)
        value = code(def.default_value) + " (module), " + code(def.default_for_tool()) + " (tool)";
    const std::string range =
        def.type == SettingType::integer ? std::to_string(def.min) + " – " + std::to_string(def.max) : std::string("—");
    return "| " + code(def.name) + " | " + where + " | " + type + " | " + value + " | " + range + " | " + def.help +
        " |\n";
}

std::string table(const std::vector<const SettingDef*>& defs)
{
    std::string out = "| setting | where | type, unit | default | range | meaning |\n|---|---|---|---|---|---|\n";
    for (const SettingDef* def : defs)
        out += row(*def);
    return out;
}

}  // namespace

std::string settings_reference_markdown()
{
    std::vector<const SettingDef*> generic;
    for (const SettingDef& def : all_settings())
        if (def.backend == nullptr)
            generic.push_back(&def);
    std::string out = std::string(k_settings_doc_begin) + "\n\n" + table(generic);
    for (const StorageScheme& scheme : storage_schemes()) {
        std::vector<const SettingDef*> own;
        for (const SettingDef& def : scheme.settings())
            own.push_back(&def);
        if (own.empty())
            continue;
        out += "\nRead only with a repository " + std::string(scheme.form) + " (" + scheme.name + " backend):\n\n" +
            table(own);
    }
    return out + "\n" + k_settings_doc_end;
}

}  // namespace walvault
