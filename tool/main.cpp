// walvault: the command-line tool. Commands live in tool/commands/, one file each; this file only
// assembles them. Exit status: 0 success, 1 failure, 2 usage error; for wal-fetch, and for a command line
// that names no command (it may be a restore_command with a typo), a usage error exits k_exit_fatal.
#include "core/common/status.h"
#include "tool/commands/commands.h"
#include "tool/lazy_libs.h"
#include "tool/version.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

namespace {

// The exit status of a command line that does not parse. PostgreSQL reads 1-125 from restore_command as
// "file not found" and ends recovery there, so a misspelled option in restore_command must not exit 2:
// only a command line that names a command other than wal-fetch gets the conventional usage status.
int usage_exit_code(const CLI::App& app, int argc, char** argv)
{
    if (argc < 2)
        return walvault::k_exit_usage;  // "walvault" alone: nobody's restore_command
    const std::string_view first = argv[1];
    if (first == "wal-fetch")
        return walvault::k_exit_fatal;
    if (first == "check")
        return walvault::k_exit_check_unknown;
    for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; }))
        if (command->get_name() == first)
            return walvault::k_exit_usage;
    return walvault::k_exit_fatal;
}

int run(int argc, char** argv)
{
    CLI::App app{"walvault: continuous WAL archiving and point-in-time recovery for PostgreSQL", "walvault"};
    app.set_version_flag("-V,--version", std::string("walvault ") + walvault::k_version);
    app.footer("The archive module is configured in postgresql.conf (archive_library = 'walvault').\n"
               "Documentation: README.md and docs/ in the walvault source tree.");
    app.require_subcommand(0, 1);
    int exit_code = 0;
    // restore_command runs "walvault wal-fetch" once per WAL segment: it gets only its own command, since
    // building the others' options costs every call ~1 ms of allocations and new pages (docs/benchmarks.md,
    // "Static libstdc++ in the tool"). Anything else, "walvault --help" too, sees every command.
    const bool wal_fetch_only = argc > 1 && std::strcmp(argv[1], "wal-fetch") == 0;
    if (!wal_fetch_only) {
        walvault::add_backup_command(app, exit_code);
        walvault::add_list_command(app, exit_code);
        walvault::add_restore_command(app, exit_code);
        walvault::add_backup_delete_command(app, exit_code);
        walvault::add_backup_pin_commands(app, exit_code);
        walvault::add_expire_command(app, exit_code);
        walvault::add_check_command(app, exit_code);
        walvault::add_wal_push_commands(app, exit_code);
        walvault::add_verify_command(app, exit_code);
        walvault::add_receive_command(app, exit_code);
        walvault::add_rekey_command(app, exit_code);
    }
    walvault::add_wal_fetch_command(app, exit_code);
    const int usage_code = usage_exit_code(app, argc, argv);
    app.failure_message([usage_code](const CLI::App*, const CLI::Error& e) {
        std::string text = "walvault: " + std::string(e.what()) + "\n";
        if (usage_code == walvault::k_exit_fatal)
            text += "walvault: exiting with status " + std::to_string(usage_code) +
                " so that a recovery running this as restore_command stops instead of ending early\n";
        return text + "Try \"walvault --help\" for more information.\n";
    });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : usage_code;  // --help and --version are "errors" that exit 0
    } catch (const std::exception& e) {
        // A bug, not an expected failure (those are Status values): say so, and never exit 1, which
        // restore_command would read as "file not found".
        // A library opened on first use that is missing (tool/lazy_libs.cpp) shows up here too: name it.
        const std::string why = walvault::lazy_lib_error();
        std::fprintf(stderr, "walvault: internal error: %s%s%s\n", e.what(), why.empty() ? "" : ": ", why.c_str());
        return usage_code == walvault::k_exit_check_unknown ? usage_code : walvault::k_exit_fatal;
    }
    if (app.get_subcommands().empty()) {
        std::fputs(app.help().c_str(), stderr);
        return walvault::k_exit_usage;  // a command is required
    }
    return exit_code;
}

}  // namespace

int main(int argc, char** argv)
{
    // Setting up the commands can throw too (std::bad_alloc): never let it end in std::terminate, whose
    // abort a restore_command caller could not tell from other signals.
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "walvault: internal error: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "walvault: internal error\n");
    }
    return walvault::k_exit_fatal;
}
