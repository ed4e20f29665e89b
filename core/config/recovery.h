// Recovery settings that `walvault restore` writes into postgresql.auto.conf: recovery targets parsed and
// checked before anything is written, quoting for postgresql.conf and for restore_command's shell, and the
// removal of recovery settings a restored postgresql.auto.conf may already carry.
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace walvault {

struct RecoveryTarget {
    enum class Kind { none, time, xid, lsn, name, immediate };
    Kind kind = Kind::none;
    std::string value;    // as written to recovery_target_<kind> (time: normalized to UTC, "... +00")
    int64_t time_us = 0;  // time: microseconds since the epoch, UTC
    uint64_t xid = 0;     // xid: the transaction id (64-bit, as txid_current() prints it)
    uint64_t lsn = 0;     // lsn
};

// --target-time: "YYYY-MM-DD HH:MM:SS[.ffffff][Z|+HH|+HH:MM|+HHMM|-...]" (a 'T' may replace the space).
// Without a zone the time is local to the tool (TZ), as `date` reads it; the value written for
// PostgreSQL then always carries an explicit UTC offset, so server and tool agree on the instant.
Status parse_target_time(std::string_view text, RecoveryTarget& out);
Status parse_target_xid(std::string_view text, RecoveryTarget& out);   // decimal, > 2 (first normal xid 3)
Status parse_target_lsn(std::string_view text, RecoveryTarget& out);   // "16/B374D848"
Status parse_target_name(std::string_view text, RecoveryTarget& out);  // 1-63 bytes (NAMEDATALEN - 1)

struct RecoverySettings {
    RecoveryTarget target;
    std::string target_action;      // "", "promote", "pause", "shutdown"
    std::string target_timeline;    // "", "latest", "current", or a decimal timeline id
    bool target_exclusive = false;  // recovery_target_inclusive = off
    std::string restore_command;    // already shell-quoted, see shell_quote()
    bool archive_off = false;       // archive_mode = off: the restored copy archives nothing
};

// Checks target_action and target_timeline; names the offending option ("--target-action").
Status check_recovery_settings(const RecoverySettings& settings);

// The lines to append to postgresql.auto.conf, starting with a "# " comment line (comment, one line).
std::string render_recovery_settings(const RecoverySettings& settings, const std::string& comment);

// postgresql.auto.conf content with every line that sets restore_command, recovery_target*,
// recovery_end_command, archive_cleanup_command, recovery_min_apply_delay, promote_trigger_file,
// primary_conninfo or primary_slot_name removed (they would
// conflict with or override what restore writes), and each removed line counted in *removed.
std::string strip_recovery_settings(std::string_view auto_conf, int* removed = nullptr);

// 'value' for postgresql.conf: single quotes, a quote doubled, backslash doubled, a line break written as
// \n and a carriage return as \r (the config reader turns them back; a raw line break would end the value).
std::string pg_conf_quote(std::string_view value);
// A POSIX shell word: unchanged if only [A-Za-z0-9_@%+=:,./-], else single-quoted with '\'' for quotes.
std::string shell_quote(std::string_view word);

}  // namespace walvault
