// The rules of `walvault check`: each check is a named service with a Nagios state, decided here from
// what the command read (the repository's newest backup and WAL, and the server's archive status), and
// the report in three forms: a Nagios plugin line with perfdata, a JSON document and Prometheus' text
// exposition format (docs/operations.md, "Monitoring", documents all three).
#pragma once

#include "core/repo/wal_catalog.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace walvault {

// The values are the Nagios plugin exit codes.
enum class CheckState {
    ok = 0,
    warning = 1,
    critical = 2,
    unknown = 3,
};

const char* check_state_name(CheckState state);  // "OK", "WARNING", "CRITICAL", "UNKNOWN"
// The state of two checks together: critical, then warning, then unknown, then ok (the Monitoring Plugins'
// max_state_alt order: a check that could not run does not hide one that failed).
CheckState worse_state(CheckState a, CheckState b);

constexpr int64_t k_default_backup_interval_s = 7LL * 24 * 3600;  // a weekly base backup
constexpr int64_t k_default_backup_grace_s = 5LL * 60;
// wal-age's default is the server's checkpoint_timeout plus this; without a server, PostgreSQL's default
// checkpoint_timeout (5min) stands in for it.
constexpr int64_t k_wal_age_margin_s = 2LL * 60;
constexpr int64_t k_default_checkpoint_timeout_s = 5LL * 60;
// receive: walvault receive writes its state at least this often while it streams (tool/commands/receive.cpp),
// so a state older than the default maximum age means the receiver is not streaming.
constexpr int64_t k_receive_state_interval_s = 60;
constexpr int64_t k_default_receive_max_age_s = 5LL * 60;
constexpr uint64_t k_default_receive_lag_segments = 4;  // the default maximum lag, in WAL segments

struct CheckThresholds {
    int64_t backup_interval_s = k_default_backup_interval_s;
    int64_t backup_grace_s = k_default_backup_grace_s;
    int64_t wal_max_age_s = k_default_checkpoint_timeout_s + k_wal_age_margin_s;
    int64_t receive_max_lag_bytes = 64LL * 1024 * 1024;
    int64_t receive_max_age_s = k_default_receive_max_age_s;

    // backup-age: WARNING above interval + grace, CRITICAL above 2 * interval + grace.
    int64_t backup_warning_s() const { return backup_interval_s + backup_grace_s; }
    int64_t backup_critical_s() const { return 2 * backup_interval_s + backup_grace_s; }
    // wal-age: WARNING above the maximum age, CRITICAL above twice it.
    int64_t wal_warning_s() const { return wal_max_age_s; }
    int64_t wal_critical_s() const { return 2 * wal_max_age_s; }
    // receive: WARNING above the maximum lag or age, CRITICAL above twice either.
    int64_t receive_lag_critical_bytes() const { return 2 * receive_max_lag_bytes; }
    int64_t receive_age_critical_s() const { return 2 * receive_max_age_s; }
};

// An age against two thresholds: OK up to warning_s (inclusive), WARNING up to critical_s, CRITICAL above.
CheckState age_state(int64_t age_s, int64_t warning_s, int64_t critical_s);

// "45s", "12min 5s", "2h 30min", "8d 3h", "7d 5min": a duration in its largest unit and the next one that is
// not zero, for messages.
std::string format_duration(int64_t seconds);

struct CheckResult {
    std::string name;  // "backup-age", "wal-age", "wal-continuity", "archiver", "receive"
    CheckState state = CheckState::unknown;
    std::string message;  // one line, lower case: what was found
};

// The numbers behind the checks; absent where the check did not measure them. Prometheus metric names and
// Nagios perfdata labels are in docs/operations.md.
struct CheckMetrics {
    std::optional<int64_t> backup_age_s;       // now - the newest complete backup's stop time
    std::optional<int64_t> wal_archive_age_s;  // what wal-age judged (see wal_age_source)
    std::string wal_age_source;                // "server": oldest .ready file; "repository": newest WAL object
    std::optional<int64_t> wal_ready_count;    // .ready files on the server
    std::optional<int64_t> wal_gap_count;      // gaps on the newest backup's lineage
    std::optional<int64_t> archive_failed_total;
    std::optional<int64_t> pitr_window_s;  // oldest complete backup's stop time .. newest archived segment
    struct Receiver {
        std::string slot;
        int64_t lag_bytes = 0;  // WAL not yet durable in the repository (see ReceiverFacts::lag_bytes)
        int64_t state_age_s = 0;
        std::optional<bool> active;  // with --dbname: a receiver is connected to the slot
    };
    std::vector<Receiver> receivers;  // by slot name
};

struct CheckReport {
    std::string repository;  // Storage::location()
    std::vector<CheckResult> checks;
    CheckMetrics metrics;
    CheckThresholds thresholds;

    CheckState state() const;  // the worst of the checks (unknown if there are none)
};

// --- the checks, from what was read; now is seconds since the epoch ---

struct NewestBackup {
    std::string label;
    int64_t stop_time = 0;  // seconds since the epoch
};
CheckResult check_backup_age(const std::optional<NewestBackup>& newest, int64_t now, const CheckThresholds& t);

// wal-age from the server: the .ready files waiting and the age of the oldest. Nothing waiting is OK however
// long ago the last file was archived: an idle server makes no WAL to archive.
CheckResult check_wal_age_server(int64_t ready_count, int64_t oldest_ready_age_s, const CheckThresholds& t);
// wal-age from the repository alone: the time since the newest WAL object was written. Weaker: an idle
// server and a broken archiver look alike.
CheckResult check_wal_age_repository(
    const std::optional<std::string>& newest_segment, int64_t newest_modified, int64_t now, const CheckThresholds& t);

// wal-continuity: gaps on the newest backup's lineage from its start segment to newest_segment ("" if none
// is archived on it), and whether the WAL up to the backup's stop segment is archived yet.
struct ContinuityFacts {
    std::string backup_label;  // "" when there is no complete backup
    std::string start_segment;
    std::string stop_segment;
    std::string newest_segment;
    bool stop_archived = false;  // newest_segment is at or past stop_segment on the lineage
    uint64_t segments = 0;       // archived segments found on the lineage
    std::vector<WalGap> gaps;
};
CheckResult check_wal_continuity(const ContinuityFacts& facts);

// archiver: the server's archive failures (walvault_status() where the extension is installed, else
// pg_stat_archiver). WARNING while the last attempt failed (its failure is newer than the last success).
struct ArchiverFacts {
    std::string source;  // "walvault_status()" or "pg_stat_archiver"
    int64_t failed_count = 0;
    std::string last_failed_wal;
    int64_t last_failed_time = 0;    // seconds since the epoch, 0: never
    int64_t last_archived_time = 0;  // 0: never
    std::string last_error;          // walvault_status() only
};
CheckResult check_archiver(const ArchiverFacts& facts);

// receive: one walvault receive slot, from its newest state object in the repository and, with --dbname, from
// the server's pg_replication_slots.
struct ReceiverFacts {
    std::string slot;
    int64_t updated = 0;           // the state's upload time, seconds since the epoch
    uint64_t state_lag_bytes = 0;  // the state's server position - its durable position, when it was written
    bool server_asked = false;     // the fields below were read from the server
    bool slot_exists = false;
    bool active = false;          // a receiver is connected to the slot
    std::string wal_status;       // pg_replication_slots.wal_status: reserved, extended, unreserved, lost
    uint64_t retained_bytes = 0;  // the server's end of WAL - the slot's restart_lsn

    // What is not yet durable in the repository: the WAL the slot retains on the server when it was asked, else
    // the state's own figure.
    uint64_t lag_bytes() const { return server_asked && slot_exists ? retained_bytes : state_lag_bytes; }
};
// The worst of the receivers: CRITICAL when a slot is gone from the server or lost its WAL (wal_status lost),
// or past twice a threshold; WARNING when no receiver is connected to the slot, its WAL is no longer reserved
// (unreserved), or past a threshold (lag above receive_max_lag_bytes, newest state older than receive_max_age_s).
CheckResult check_receive(const std::vector<ReceiverFacts>& receivers, int64_t now, const CheckThresholds& t);

// --- the report ---

// One Nagios plugin line: "WALVAULT OK - backup-age OK: ...; wal-age OK: ... | backup_age=3600s;...".
std::string format_check_text(const CheckReport& report);
// The JSON document of --output json (format 1).
std::string format_check_json(const CheckReport& report, int64_t now);
// Prometheus text exposition format, every metric with a repo label, HELP and TYPE lines.
std::string format_check_prometheus(const CheckReport& report);

}  // namespace walvault
