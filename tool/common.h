// What every walvault command shares: the settings flags, opening the repository, exit codes and the
// way errors are printed.
#pragma once

#include "core/codec/age.h"
#include "core/codec/codec.h"
#include "core/common/status.h"
#include "core/config/resolve.h"
#include "core/repo/identity.h"
#include "core/storage/storage.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace walvault {

constexpr int k_exit_ok = 0;
constexpr int k_exit_failure = 1;  // also "not found" for wal-fetch, as restore_command expects
constexpr int k_exit_usage = 2;    // a command line that does not parse (but see k_exit_fatal)
// For restore_command, PostgreSQL reads 1-125 as "file not found" and ends recovery there; above 125 it
// stops instead. A damaged object, an unreachable repository or a misspelled restore_command must never
// end recovery early.
constexpr int k_exit_fatal = 200;
// walvault check follows the Nagios plugin convention (0 OK, 1 WARNING, 2 CRITICAL): a check that could not
// run, a usage error included, is UNKNOWN.
constexpr int k_exit_check_unknown = 3;

struct CommonOptions {
    unsigned use = 0;                          // the command's SettingUse bit (core/common/setting_def.h)
    std::map<std::string, std::string> flags;  // settings given on the command line
    std::string config;                        // --config
};

// Adds --config and one flag per setting the command takes (use: its SettingUse bit; --s3_endpoint and
// --s3-endpoint alike) to a command, so its --help lists only those.
// command_defaults: the defaults this command uses instead of the settings' own (for its --help only; the
// command applies them itself when a setting is not given).
void add_setting_flags(CLI::App& command, CommonOptions& options, unsigned use,
    const std::map<std::string, std::string>& command_defaults = {});

// Reads the identities of encryption_identity_file (a file of mode 0600, or "-": standard input) for the
// object readers (set_object_identities); nothing when the setting is empty, or when an earlier call loaded them.
// open_repository calls it.
Status load_identities(const ResolvedSettings& settings);

// encryption_recipients (empty: no encryption), and the encryption fields of the repository identity a writer
// creates or must find (set_identity_encryption).
Status resolved_recipients(const ResolvedSettings& settings, std::vector<AgeRecipient>& out, RepoIdentity& identity);

// Resolves the settings the command takes (options.use).
Status resolve_command_settings(const CommonOptions& options, ResolvedSettings& settings);

// Resolves the settings and opens the repository they name, with its identities (load_identities).
Status open_repository(const CommonOptions& options, ResolvedSettings& settings, std::unique_ptr<Storage>& storage);

// open_repository without load_identities, for a command that may finish without reading an object (wal-fetch
// served from its spool): it calls load_identities itself before it decodes one.
Status open_repository_storage(
    const CommonOptions& options, ResolvedSettings& settings, std::unique_ptr<Storage>& storage);

// The resolved compression setting (its default if not set), parsed.
Status resolved_compression(const ResolvedSettings& settings, Compression& out);

// A point in time given as an ISO 8601 UTC time ("2027-06-30T00:00:00Z") or as a positive span in
// PostgreSQL's units ("90d", "12h") counted from now, forward (direction 1) or back (-1). False if it is
// neither.
bool parse_time_or_span(const std::string& text, int64_t now, int direction, int64_t& out);

// Prints "walvault COMMAND: message" and the hint, if any, to stderr.
void print_error(const std::string& command, const Status& status);

// Makes run() the command's action: exit status 0 when it returns ok, else its error printed and 1.
void on_run(CLI::App& command, const std::string& name, int& exit_code, std::function<Status()> run);

}  // namespace walvault
