// walvault: the command-line tool. Commands live in tool/commands/, one file each; this file only
// assembles them. Exit status: 0 success, 1 usage error or failure.
#include "core/common/status.h"
#include "tool/commands/commands.h"
#include "tool/lazy_libs.h"
#include "tool/version.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

int main(int argc, char** argv)
{
    CLI::App app{"walvault: continuous WAL archiving and point-in-time recovery for PostgreSQL", "walvault"};
    app.set_version_flag("-V,--version", std::string("walvault ") + walvault::k_version);
    app.footer("The archive module is configured in postgresql.conf (archive_library = 'walvault').\n"
               "Documentation: README.md and docs/ in the walvault source tree.");
    app.require_subcommand(0, 1);
    int exit_code = 0;
    // restore_command runs "walvault wal-fetch" once per WAL segment: it gets only its own command, since
    // building the others' options costs every call ~1 ms of allocations and new pages (docs/benchmarks.md,
    // "Replay"). Anything else, "walvault --help" too, sees every command.
    const bool wal_fetch_only = argc > 1 && std::strcmp(argv[1], "wal-fetch") == 0;
    if (!wal_fetch_only) {
        walvault::add_backup_command(app, exit_code);
        walvault::add_list_command(app, exit_code);
        walvault::add_restore_command(app, exit_code);
        walvault::add_backup_delete_command(app, exit_code);
    }
    walvault::add_wal_fetch_command(app, exit_code);
    app.failure_message([](const CLI::App*, const CLI::Error& e) {
        return "walvault: " + std::string(e.what()) + "\nTry \"walvault --help\" for more information.\n";
    });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 1;  // --help and --version are "errors" that exit 0
    } catch (const std::exception& e) {
        // A bug, not an expected failure (those are Status values): say so, and never exit 1, which
        // restore_command would read as "file not found".
        // A library opened on first use that is missing (tool/lazy_libs.cpp) shows up here too: name it.
        const std::string why = walvault::lazy_lib_error();
        std::fprintf(stderr, "walvault: internal error: %s%s%s\n", e.what(), why.empty() ? "" : ": ", why.c_str());
        return walvault::k_exit_fatal;
    }
    if (app.get_subcommands().empty()) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    }
    return exit_code;
}
