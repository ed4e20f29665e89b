// Shared command plumbing.
#include "tool/common.h"

#include "core/common/utc_time.h"
#include "core/config/settings.h"
#include "core/repo/object_io.h"

#include <CLI/CLI.hpp>
#include <openssl/crypto.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>

namespace walvault {

constexpr size_t k_max_stdin_identity_bytes = 1024UL * 1024;  // as read_age_identity_file allows

namespace {

// "--parallel N (default 2, 1-16)", "--part-size N (default 64MB, 1MB-1GB)": what the tool's --help says
// about a setting.
// The flag's help: the setting's, its default (the command's own where it has one) and its range.
std::string flag_help(const SettingDef& def, const std::map<std::string, std::string>& command_defaults)
{
    std::string text = def.help;
    const auto own = command_defaults.find(def.name);
    const std::string value = own != command_defaults.end() ? own->second : def.default_for_tool();
    if (def.type == SettingType::integer)
        text += " (default " + format_setting_quantity(std::stoll(value), def.unit) + ", " +
            format_setting_quantity(def.min, def.unit) + "-" + format_setting_quantity(def.max, def.unit) + ")";
    else if (!value.empty())
        text += " (default " + value + ")";
    return text;
}

}  // namespace

void add_setting_flags(
    CLI::App& command, CommonOptions& options, unsigned use, const std::map<std::string, std::string>& command_defaults)
{
    options.use = use;
    command.add_option("--config", options.config,
        std::string("config file of \"name = value\" lines (default: WALVAULT_CONFIG, else ") + k_default_config_file +
            " if it exists)");
    for (const SettingDef* def : tool_settings(use)) {
        std::string names = "--" + std::string(def->name);
        std::string dashed = def->name;
        std::replace(dashed.begin(), dashed.end(), '_', '-');
        if (dashed != def->name)
            names += ",--" + dashed;
        const std::string name = def->name;
        command
            .add_option_function<std::string>(
                names, [&options, name](const std::string& v) { options.flags[name] = v; },
                flag_help(*def, command_defaults))
            ->type_name(def->type == SettingType::integer ? "N" : "TEXT");
    }
    command.footer("Every setting can also come from the environment (WALVAULT_REPO, WALVAULT_S3_ENDPOINT, ...) "
                   "or the config file (repo = ...); a flag wins over the environment, which wins over the file.");
}

Status resolve_command_settings(const CommonOptions& options, ResolvedSettings& settings)
{
    auto getenv = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
    };
    return resolve_settings(options.flags, options.config, getenv, options.use, settings);
}

Status open_repository(const CommonOptions& options, ResolvedSettings& settings, std::unique_ptr<Storage>& storage)
{
    Status s = open_repository_storage(options, settings, storage);
    if (s.is_ok())
        s = load_identities(settings);
    return s;
}

Status open_repository_storage(
    const CommonOptions& options, ResolvedSettings& settings, std::unique_ptr<Storage>& storage)
{
    Status s = resolve_command_settings(options, settings);
    if (!s.is_ok())
        return s;
    const std::string repo = setting(settings, "repo");
    if (repo.empty())
        return Status::error(
            Code::invalid, "no repository given", "Pass --repo, set WALVAULT_REPO, or set repo in the config file.");
    return open_storage(repo, storage_options(settings), storage);
}

Status load_identities(const ResolvedSettings& settings)
{
    static bool loaded = false;  // standard input can be read once: the first repository opened takes it
    const std::string path = setting(settings, "encryption_identity_file");
    if (path.empty() || loaded)
        return Status::ok();
    std::vector<AgeIdentity> identities;
    Status s;
    if (path == "-") {
        std::string contents;
        char buf[4096];
        size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0 && contents.size() < k_max_stdin_identity_bytes)
            contents.append(buf, n);
        s = parse_age_identities(contents, identities);
        OPENSSL_cleanse(contents.data(), contents.size());
        OPENSSL_cleanse(buf, sizeof buf);
        if (!s.is_ok())
            s.prefix("identity from standard input (--encryption-identity-file -)");
    } else {
        s = read_age_identity_file(path, identities);
    }
    if (!s.is_ok())
        return s;
    set_object_identities(std::move(identities));
    loaded = true;
    return Status::ok();
}

Status resolved_recipients(const ResolvedSettings& settings, std::vector<AgeRecipient>& out, RepoIdentity& identity)
{
    Status s = parse_age_recipients(setting(settings, "encryption_recipients"), out);
    if (!s.is_ok())
        return s.prefix("invalid encryption_recipients");
    std::vector<std::string> fingerprints;
    fingerprints.reserve(out.size());
    for (const AgeRecipient& r : out)
        fingerprints.push_back(age_recipient_fingerprint(r));
    set_identity_encryption(identity, fingerprints);
    return Status::ok();
}

Status resolved_compression(const ResolvedSettings& settings, Compression& out)
{
    const std::string value = setting(settings, "compression");
    std::string error;
    const auto parsed = Compression::parse(value.empty() ? find_setting("compression")->default_value : value, &error);
    if (!parsed)
        return Status::error(Code::invalid, error);
    out = *parsed;
    return Status::ok();
}

bool parse_time_or_span(const std::string& text, int64_t now, int direction, int64_t& out)
{
    int64_t span = 0;
    std::string why;
    if (parse_setting_quantity(text, SettingUnit::s, span, why) && span > 0) {
        out = now + direction * span;
        return true;
    }
    return parse_utc_time(text, out).is_ok();
}

void print_error(const std::string& command, const Status& status)
{
    std::fprintf(stderr, "walvault %s: %s\n", command.c_str(), status.message().c_str());
    if (!status.hint().empty())
        std::fprintf(stderr, "HINT: %s\n", status.hint().c_str());
}

void on_run(CLI::App& command, const std::string& name, int& exit_code, std::function<Status()> run)
{
    command.callback([name, &exit_code, run = std::move(run)] {
        const Status s = run();
        if (!s.is_ok())
            print_error(name, s);
        exit_code = s.is_ok() ? k_exit_ok : k_exit_failure;
    });
}

}  // namespace walvault
