// Every setting, declared once (core/common/setting_def.h): the generic ones here, each backend's in its
// StorageScheme row. The module's GUCs, the tool's flags, WALVAULT_* variables and config-file keys, each
// command's --help and the table in docs/configuration.md are made from all_settings().
#pragma once

#include "core/codec/age.h"
#include "core/codec/codec.h"
#include "core/common/setting_def.h"
#include "core/common/status.h"

#include <string>
#include <string_view>
#include <vector>

namespace walvault {

// Each file in flight holds a zstd context and its buffers (~3-4 MiB): 16 keeps the archiver within the
// 64 MiB it may use (bench/memory.sh), and is more uploads at once than one archiver needs.
constexpr int k_max_parallel = 16;

// Every setting: the generic ones, then each storage backend's (storage_schemes() order).
const std::vector<SettingDef>& all_settings();
// The setting called name (without "walvault."); nullptr if there is none.
const SettingDef* find_setting(std::string_view name);
// The default of an integer setting, as the tool (for_tool) or the module uses it.
int64_t setting_default_int(std::string_view name, bool for_tool);

// What the archiver needs of the generic settings.
struct Settings {
    std::string repo;  // a location of one of the storage_schemes(), or empty
    Compression compression;
    int parallel = 1;
    std::vector<AgeRecipient> recipients;  // encryption_recipients; empty: objects are written unencrypted
};

// Checks a walvault.repo value: empty (not configured) or a location of one of the storage_schemes()
// (core/storage/storage.h), with that scheme's check (check_access: what this process can check locally,
// such as a directory being writable). On failure, message and hint are filled (PostgreSQL style).
bool check_repo_setting(std::string_view value, bool check_access, std::string& message, std::string& hint);

// Checks a walvault.encryption_recipients value: empty, or age recipients separated by commas.
bool check_encryption_recipients_setting(std::string_view value, std::string& message, std::string& hint);

// Checks a walvault.compression value.
bool check_compression_setting(std::string_view value, std::string& message, std::string& hint);

// Checks the value of setting NAME (without "walvault.") as its declaration says (check_setting_value); an
// unknown name fails. With check_access, paths must be usable by this process.
bool check_setting(
    std::string_view name, std::string_view value, bool check_access, std::string& message, std::string& hint);

}  // namespace walvault
