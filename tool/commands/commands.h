// The walvault commands, one file each in tool/commands/; each registers itself on the app and sets the
// exit code when it runs.
#pragma once

#include "tool/common.h"

namespace CLI {
class App;
}

namespace walvault {

void add_backup_command(CLI::App& app, int& exit_code);
void add_backup_delete_command(CLI::App& app, int& exit_code);
void add_check_command(CLI::App& app, int& exit_code);
void add_list_command(CLI::App& app, int& exit_code);
void add_restore_command(CLI::App& app, int& exit_code);
void add_wal_fetch_command(CLI::App& app, int& exit_code);
void add_expire_command(CLI::App& app, int& exit_code);
void add_backup_pin_commands(CLI::App& app, int& exit_code);
void add_wal_push_commands(CLI::App& app, int& exit_code);
void add_verify_command(CLI::App& app, int& exit_code);

// expire, for the expire command and backup --expire: plans with the resolved retention settings, prints the
// plan (text or JSON) and carries it out unless dry_run. Code::busy, with nothing removed, while a backup is
// being written.
struct ExpireOptions {
    bool dry_run = false;
    bool json = false;
};
Status expire_repository(Storage& storage, const ResolvedSettings& settings, const ExpireOptions& options);

}  // namespace walvault
