// The generic settings, one row each, and the list of all settings (these and every backend's).
#include "core/config/settings.h"

#include "core/codec/age.h"
#include "core/storage/storage.h"

#include <charconv>

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

bool check_encryption_recipients_setting(std::string_view value, std::string& message, std::string& hint)
{
    std::vector<AgeRecipient> recipients;
    const Status s = parse_age_recipients(value, recipients);
    if (s.is_ok())
        return true;
    message = "walvault.encryption_recipients: " + s.message();
    hint = s.hint().empty() ? "Give age X25519 recipients (\"age1...\") separated by commas." : s.hint();
    return false;
}

namespace {

bool check_encryption_recipients(std::string_view value, bool, std::string& message, std::string& hint)
{
    return check_encryption_recipients_setting(value, message, hint);
}

// "-" (standard input) or an absolute path: restore writes it into restore_command, which PostgreSQL runs in
// the data directory. The file itself is read, and its mode checked, when a command uses it.
bool check_identity_file(std::string_view value, bool, std::string& message, std::string& hint)
{
    if (value.empty() || value == "-" || value.front() == '/')
        return true;
    message = "walvault.encryption_identity_file must be an absolute path or \"-\"";
    hint = "Give the identity file's absolute path, or \"-\" to read the identities from standard input.";
    return false;
}

bool check_compression(std::string_view value, bool, std::string& message, std::string& hint)
{
    return check_compression_setting(value, message, hint);
}

// A replication slot name as PostgreSQL accepts it (ReplicationSlotValidateName): lower-case letters, digits
// and underscores, at most NAMEDATALEN - 1 bytes.
bool check_slot_name(std::string_view value, bool, std::string& message, std::string& hint)
{
    constexpr size_t k_max_slot_name = 63;
    const bool valid = !value.empty() && value.size() <= k_max_slot_name &&
        value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string_view::npos;
    if (valid)
        return true;
    message = "replication slot name \"" + std::string(value) + "\" is not valid";
    hint = "Slot names contain only lower-case letters, digits and underscores, at most 63 of them.";
    return false;
}

std::vector<SettingDef> make_all_settings()
{
    static const std::string k_repo_help = "repository location: " + storage_scheme_forms();
    std::vector<SettingDef> all = {
        {.name = "repo",
            .type = SettingType::text,
            .default_value = "",
            .superuser_only = true,
            .help = k_repo_help.c_str(),
            .check = check_repo_setting},
        {.name = "compression",
            .type = SettingType::text,
            .default_value = "zstd:3",
            .uses = k_use_module | k_use_backup | k_use_wal_push | k_use_receive,
            .help = "compression of written objects: \"none\", \"zstd\" or \"zstd:LEVEL\"",
            .check = check_compression},
        // The archiver's 8 even on 2 cores: its workers wait on the disk and the store much of the time
        // (docs/benchmarks.md, "The default walvault.parallel of 8"); the tool's commands copy and
        // decompress at full speed, one per core on the smallest machines we support.
        {.name = "parallel",
            .type = SettingType::integer,
            .default_value = "8",
            .min = 1,
            .max = k_max_parallel,
            .uses = k_use_module | k_use_backup | k_use_restore | k_use_wal_fetch | k_use_expire | k_use_verify |
                k_use_rekey,
            .help = "files in flight at once: archived ahead of the archiver, copied by backup and restore, "
                    "fetched ahead by wal-fetch, read by verify, re-encrypted by rekey",
            .tool_default = "2"},
        {.name = "shutdown_timeout",
            .type = SettingType::integer,
            .default_value = "5000",
            .min = 0,
            .max = 3600 * 1000LL,  // one hour
            .unit = SettingUnit::ms,
            .uses = k_use_module_shim,
            .help = "time the archiver keeps archiving after shutdown starts; the rest stays ready for the next "
                    "start"},
        {.name = "prefetch",
            .type = SettingType::integer,
            .default_value = "16",
            .min = 0,
            .max = 1024,  // segments: 16 GiB of pg_wal with 16 MiB segments
            .uses = k_use_restore | k_use_wal_fetch,
            .help = "WAL segments wal-fetch downloads ahead of recovery; 0 turns prefetch off"},
        {.name = "part_size",
            .type = SettingType::integer,
            .default_value = "64",
            .min = 1,
            .max = 1024,  // a relation segment: larger parts share nothing
            .unit = SettingUnit::mb,
            .uses = k_use_backup,
            .help = "backup stores a file larger than this in parts of this size"},
        // Retention (core/repo/retention.h): read by expire, and by backup for backup --expire.
        {.name = "retain_full",
            .type = SettingType::integer,
            .default_value = "0",
            .min = 0,
            .max = 1000000,
            .uses = k_use_expire | k_use_backup,
            .help = "expire keeps the newest N complete backups (and the WAL they need); 0 sets no count"},
        {.name = "retain_window",
            .type = SettingType::integer,
            .default_value = "0",
            .min = 0,
            .max = 50LL * 366 * 86400,  // fits a GUC integer, as every setting must
            .unit = SettingUnit::s,
            .uses = k_use_expire | k_use_backup,
            .help = "expire keeps every point in time this far back restorable (such as 14d); 0 sets no window"},
        {.name = "lease_timeout",
            .type = SettingType::integer,
            .default_value = "300",
            .min = 2,
            .max = 86400,
            .unit = SettingUnit::s,
            .uses = k_use_backup | k_use_expire | k_use_backup_delete,
            .help = "a running backup renews its lease every quarter of this; expire takes an incomplete backup "
                    "whose lease is older for abandoned and removes it"},
        // Client-side encryption (core/codec/age.h, docs/encryption.md). Writers take the recipients (public
        // keys); only the tool's readers take an identity, so a server never holds a key that decrypts.
        {.name = "encryption_recipients",
            .type = SettingType::text,
            .default_value = "",
            .uses = k_use_module | k_use_backup | k_use_wal_push | k_use_restore | k_use_receive | k_use_rekey,
            .help = "encrypt every object written to these age recipients (\"age1...\", separated by commas); "
                    "empty: no encryption",
            .check = check_encryption_recipients},
        {.name = "encryption_identity_file",
            .type = SettingType::text,
            .default_value = "",
            .uses = k_use_restore | k_use_wal_fetch | k_use_list | k_use_check | k_use_wal_push | k_use_verify |
                k_use_receive | k_use_rekey,
            .superuser_only = true,
            .help = "age identity file (age-keygen's output, mode 0600) that opens encrypted objects; \"-\": "
                    "read it from standard input",
            .check = check_identity_file},
        // walvault receive (tool/commands/receive.cpp): the loss window of streamed WAL is the flush interval.
        {.name = "slot",
            .type = SettingType::text,
            .default_value = "walvault",
            .uses = k_use_receive,
            .help = "physical replication slot that receive streams from",
            .check = check_slot_name},
        {.name = "receive_flush_interval",
            .type = SettingType::integer,
            .default_value = "5000",
            .min = 100,
            .max = 3600 * 1000LL,
            .unit = SettingUnit::ms,
            .uses = k_use_receive,
            .help = "receive uploads the segment in progress at least this often while new WAL arrives: the "
                    "most recent WAL a lost server can take with it"},
        {.name = "receive_flush_bytes",
            .type = SettingType::integer,
            .default_value = "1",
            .min = 1,
            .max = 1024,
            .unit = SettingUnit::mb,
            .uses = k_use_receive,
            .help = "receive uploads the segment in progress as soon as this much new WAL has arrived"},
    };
    for (const StorageScheme& scheme : storage_schemes())
        for (const SettingDef& def : scheme.settings())
            all.push_back(def);
    return all;
}

}  // namespace

const std::vector<SettingDef>& all_settings()
{
    static const std::vector<SettingDef> k_all = make_all_settings();
    return k_all;
}

const SettingDef* find_setting(std::string_view name)
{
    for (const SettingDef& def : all_settings())
        if (name == def.name)
            return &def;
    return nullptr;
}

int64_t setting_default_int(std::string_view name, bool for_tool)
{
    const SettingDef* def = find_setting(name);
    if (def == nullptr || def->type != SettingType::integer)
        return 0;
    const std::string_view text = for_tool ? def->default_for_tool() : def->default_value;
    int64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);  // test_config_settings checks every default
    return n;
}

bool check_setting(
    std::string_view name, std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    const SettingDef* def = find_setting(name);
    if (def == nullptr) {
        message = "unknown setting \"" + std::string(name) + "\"";
        hint = "docs/configuration.md lists the settings.";
        return false;
    }
    return check_setting_value(*def, value, check_access, message, hint);
}

}  // namespace walvault
