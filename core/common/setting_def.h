// What a setting is, declared once: the module's GUCs (module/walvault.c), their check hooks, the tool's
// flags, WALVAULT_* variables and config-file keys (core/config/resolve), each command's --help and the
// reference table in docs/configuration.md are all made from SettingDef rows. The generic settings are in
// core/config/settings.cpp; a storage backend declares its own (core/storage/s3/s3_settings.cpp) and
// lists them in its StorageScheme row. docs/architecture.md, "Adding a setting", shows the steps.
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace walvault {

enum class SettingType {
    text,
    integer,
};

// The unit of an integer setting: the GUC and the tool both take PostgreSQL's unit suffixes ("5s", "14d",
// "64MB"; parse_setting_quantity), and a bare number in this unit; pg_settings shows it.
enum class SettingUnit {
    none,
    ms,
    s,
    mb,  // PostgreSQL's MB (MiB)
};

// Reads a quantity as postgresql.conf takes it: a whole number, optionally followed (after optional blanks) by
// one of PostgreSQL's units of the same kind as `unit` (time: us, ms, s, min, h, d; memory: B, kB, MB, GB, TB;
// case matters, as in PostgreSQL), and converts it to `unit`, rounding to the nearest whole unit. A bare
// number is in `unit`. On failure, says why in error ("unit \"x\" is not valid; valid units are ...").
bool parse_setting_quantity(std::string_view text, SettingUnit unit, int64_t& value, std::string& error);
// The same quantity written with the largest unit that divides it ("14d", "90min", "1500ms", "64MB"); a
// unit of none gives the bare number.
std::string format_setting_quantity(int64_t value, SettingUnit unit);

// What reads a setting. A setting with k_use_module is a GUC walvault.NAME; one with any command bit is a
// tool setting (--NAME, WALVAULT_NAME, config-file key NAME) that only those commands take and list.
enum SettingUse : unsigned {
    k_use_module = 1U << 0,  // the archiver, through the settings snapshot of module/bridge.h
    // The C shim (module/walvault.c) alone: changing it does not restart the archiver's work.
    k_use_module_shim = 1U << 1,
    k_use_backup = 1U << 2,
    k_use_list = 1U << 3,
    k_use_restore = 1U << 4,
    k_use_backup_delete = 1U << 5,
    k_use_wal_fetch = 1U << 6,
    k_use_expire = 1U << 7,
    k_use_pin = 1U << 8,  // backup-pin and backup-unpin
    k_use_check = 1U << 9,
    k_use_wal_push = 1U << 10,  // wal-push and repair
    k_use_verify = 1U << 11,
    k_use_receive = 1U << 12,
    k_use_rekey = 1U << 13,
    // Every command that opens the repository.
    k_use_commands = k_use_backup | k_use_list | k_use_restore | k_use_backup_delete | k_use_wal_fetch | k_use_expire |
        k_use_pin | k_use_check | k_use_wal_push | k_use_verify | k_use_receive | k_use_rekey,
    k_use_everywhere = k_use_module | k_use_commands,
};

// Checks a value (integers arrive as decimal text, already range-checked); with check_access also what this
// process can check locally (a file is readable, a directory writable). On failure fills message and hint.
using SettingCheck = bool (*)(std::string_view value, bool check_access, std::string& message, std::string& hint);

struct SettingDef {
    const char* name;  // walvault.NAME, --NAME (or --NA-ME), WALVAULT_NAME, config-file key NAME
    SettingType type;
    const char* default_value;  // as postgresql.conf would spell it: "", "zstd:3", "8"
    int64_t min = 0;            // integers: the range, in unit
    int64_t max = 0;
    SettingUnit unit = SettingUnit::none;
    unsigned uses = k_use_everywhere;  // SettingUse bits
    // GUC_SUPERUSER_ONLY: the value names a host, a path, a key or a credentials profile, so only superusers
    // and pg_read_all_settings see it.
    bool superuser_only = false;
    // One line, no final period: the GUC's short description, the flag's --help text, the docs table.
    const char* help = "";
    SettingCheck check = nullptr;  // beyond type and range; nullptr: any value
    // The tool's default where it differs from the module's (parallel); nullptr: default_value.
    const char* tool_default = nullptr;
    // A restart of the server is needed to change it (PGC_POSTMASTER); otherwise a reload (PGC_SIGHUP).
    bool needs_restart = false;
    const char* backend = nullptr;  // the StorageScheme name whose backend reads it ("s3"); nullptr: generic

    bool used_by(unsigned use) const { return (uses & use) != 0; }
    bool is_guc() const { return used_by(k_use_module | k_use_module_shim); }
    bool is_tool_setting() const { return used_by(k_use_commands); }
    const char* default_for_tool() const { return tool_default != nullptr ? tool_default : default_value; }
};

// Checks value against def: an integer must be a decimal number within [min, max]; then def.check. Messages
// name the setting as walvault.NAME.
bool check_setting_value(
    const SettingDef& def, std::string_view value, bool check_access, std::string& message, std::string& hint);

// Helpers for SettingCheck functions.
// One of choices ("" among them means unset is allowed).
bool check_setting_choice(std::string_view name, std::string_view value,
    std::initializer_list<std::string_view> choices, std::string& message, std::string& hint);
// Empty, or an absolute path of a file this process can read (with check_access). example: for the hint.
bool check_setting_readable_file(std::string_view name, std::string_view value, std::string_view example,
    bool check_access, std::string& message, std::string& hint);

}  // namespace walvault
