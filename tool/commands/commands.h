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

}  // namespace walvault
