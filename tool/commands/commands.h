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
void add_receive_command(CLI::App& app, int& exit_code);
void add_rekey_command(CLI::App& app, int& exit_code);

// expire, for the expire command and backup --expire: plans with the resolved retention settings, prints the
// plan (text or JSON) and carries it out unless dry_run. Code::busy, with nothing removed, while a backup is
// being written.
struct ExpireOptions {
    bool dry_run = false;
    bool json = false;
};
Status expire_repository(Storage& storage, const ResolvedSettings& settings, const ExpireOptions& options);

// What restore --force does before it removes a data directory: archives what its pg_wal holds that the
// repository lacks, so that no WAL that exists nowhere else is lost (tool/commands/wal_push.cpp). History files,
// complete segments (those of this system at their own address), and the newest segment, the one the server
// was writing, as "<segment>.partial" (wal-fetch serves it at the end of its timeline). Nothing to do without
// global/pg_control and pg_wal. Code::conflict if the directory is another database system's; any failure to
// archive is an error: the directory must then stay as it is.
struct OldWal {
    std::vector<std::string> archived;  // WAL file names written now
    std::vector<std::string> present;   // found already archived, with the same content
    std::string partial;                // the .partial name written or found, "" if none
};
Status save_old_wal(Storage& storage, const ResolvedSettings& settings, const std::string& pgdata, OldWal& report);

}  // namespace walvault
