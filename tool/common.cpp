// Shared command plumbing.
#include "tool/common.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

namespace walvault {

void add_setting_flags(CLI::App& command, CommonOptions& options)
{
    command.add_option("--config", options.config,
        std::string("config file of \"name = value\" lines (default: WALVAULT_CONFIG, else ") + k_default_config_file +
            " if it exists)");
    for (const SettingInfo& info : tool_settings()) {
        std::string names = "--" + std::string(info.name);
        std::string dashed = info.name;
        std::replace(dashed.begin(), dashed.end(), '_', '-');
        if (dashed != info.name)
            names += ",--" + dashed;
        const std::string name = info.name;
        command.add_option_function<std::string>(
            names, [&options, name](const std::string& v) { options.flags[name] = v; }, info.help);
    }
    command.footer("Every setting can also come from the environment (WALVAULT_REPO, WALVAULT_S3_ENDPOINT, ...) "
                   "or the config file (repo = ...); a flag wins over the environment, which wins over the file.");
}

Status open_repository(const CommonOptions& options, ResolvedSettings& settings, std::unique_ptr<Storage>& storage)
{
    auto getenv = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
    };
    Status s = resolve_settings(options.flags, options.config, getenv, settings);
    if (!s.is_ok())
        return s;
    const std::string repo = setting(settings, "repo");
    if (repo.empty())
        return Status::error(
            Code::invalid, "no repository given", "Pass --repo, set WALVAULT_REPO, or set repo in the config file.");
    return open_storage(repo, storage_options(settings), storage);
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
