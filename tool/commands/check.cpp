// walvault check: the monitoring command. Reads the backups' manifests and the newest end of the archived
// WAL (never the whole archive: core/repo/wal_tail.h) and walvault receive's states, and with --dbname the
// server's archive status and replication slots, and reports five checks (backup-age, wal-age, wal-continuity,
// archiver, and receive where walvault receive runs) as one Nagios plugin line, JSON or Prometheus metrics
// (core/repo/health.h; docs/operations.md, "Monitoring"). Exit status is Nagios': 0 OK, 1 WARNING, 2 CRITICAL, 3
// UNKNOWN, and a usage or settings error is UNKNOWN too.
#include "tool/commands/commands.h"

#include "core/common/utc_time.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/health.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/wal_stream.h"
#include "core/repo/wal_tail.h"
#include "core/wal/wal_name.h"
#include "tool/pg_client.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <ctime>

namespace walvault {
namespace {

constexpr const char* k_command = "check";

struct CheckContext {
    CommonOptions common;
    std::string dbname;
    std::string output = "text";
    std::string backup_interval;
    std::string backup_grace;
    std::string wal_max_age;      // "": the server's checkpoint_timeout + 2min
    std::string receive_max_lag;  // "": 4 WAL segments
    std::string receive_max_age;
    int exit_code = static_cast<int>(CheckState::unknown);
};

int64_t to_int(const std::string& text)
{
    int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
}

Status parse_duration(const char* flag, const std::string& text, int64_t& out)
{
    std::string error;
    if (parse_setting_quantity(text, SettingUnit::s, out, error) && out > 0)
        return Status::ok();
    return Status::error(Code::invalid,
        "invalid value for " + std::string(flag) + ": \"" + text + "\"" + (error.empty() ? "" : ": " + error),
        "Give a positive duration with one of PostgreSQL's units, such as \"90s\", \"5min\", \"2h\" or \"7d\".");
}

// A byte quantity with PostgreSQL's memory units; a bare number is MB.
Status parse_size(const char* flag, const std::string& text, int64_t& out_bytes)
{
    std::string error;
    int64_t mb = 0;
    if (parse_setting_quantity(text, SettingUnit::mb, mb, error) && mb > 0) {
        out_bytes = mb * 1024 * 1024;
        return Status::ok();
    }
    return Status::error(Code::invalid,
        "invalid value for " + std::string(flag) + ": \"" + text + "\"" + (error.empty() ? "" : ": " + error),
        "Give a positive size with one of PostgreSQL's units, such as \"64MB\" or \"1GB\".");
}

// What the server says about archiving, for wal-age and archiver.
struct ServerFacts {
    std::optional<Status> unreachable;  // connection failed
    std::optional<int64_t> checkpoint_timeout_s;
    bool archive_mode_off = false;
    std::optional<Status> ready_error;  // pg_ls_archive_statusdir() failed (privileges)
    int64_t ready_count = 0;
    int64_t oldest_ready_age_s = 0;
    std::optional<ArchiverFacts> archiver;
    std::optional<Status> archiver_error;
    std::vector<PgRow> slots;  // the physical slots: name, active, wal_status, retained bytes
    std::optional<Status> slots_error;
};

// The physical replication slots and the WAL each retains: from the server's end of WAL (received or
// replayed on a standby) back to the slot's restart_lsn, which a receiver moves with its flush position.
void read_slots(PgClient& pg, ServerFacts& f)
{
    const Status s = pg.query("SELECT slot_name, active, coalesce(wal_status, ''), "
                              "coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() "
                              "THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) "
                              "ELSE pg_current_wal_lsn() END, restart_lsn), 0)::bigint "
                              "FROM pg_replication_slots WHERE slot_type = 'physical'",
        {}, f.slots);
    if (!s.is_ok())
        f.slots_error = s;
}

ServerFacts read_server(const std::string& conninfo, bool slots)
{
    ServerFacts f;
    PgClient pg;
    Status s = pg.connect(conninfo);
    if (!s.is_ok()) {
        f.unreachable = s;
        return f;
    }
    if (slots)
        read_slots(pg, f);
    PgRow row;
    s = pg.query_row("SELECT (SELECT setting FROM pg_settings WHERE name = 'checkpoint_timeout'), "
                     "current_setting('archive_mode')",
        {}, row);
    if (s.is_ok()) {
        f.checkpoint_timeout_s = to_int(row[0]);
        f.archive_mode_off = row[1] == "off";
    }
    // pg_ls_archive_statusdir(): superusers and pg_monitor members, or a role granted EXECUTE on it.
    s = pg.query_row("SELECT count(*), coalesce(extract(epoch FROM now() - min(modification))::bigint, 0) "
                     "FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'",
        {}, row);
    if (s.is_ok()) {
        f.ready_count = to_int(row[0]);
        f.oldest_ready_age_s = to_int(row[1]);
    } else {
        f.ready_error = Status::error(s.code(), s.message(),
            "Grant the role pg_monitor (GRANT pg_monitor TO ...), or EXECUTE on pg_ls_archive_statusdir().");
    }
    // walvault_status() where the extension is installed in this database (superusers and pg_monitor), else
    // pg_stat_archiver, which every role may read.
    std::vector<PgRow> rows;
    s = pg.query("SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                 "WHERE e.extname = 'walvault'",
        {}, rows);
    if (s.is_ok() && !rows.empty()) {
        s = pg.query_row("SELECT failed_count, last_failed_wal, "
                         "coalesce(extract(epoch FROM last_failed_time)::bigint, 0), "
                         "coalesce(extract(epoch FROM last_archived_time)::bigint, 0), last_error FROM " +
                rows[0][0] + ".walvault_status()",
            {}, row);
        if (s.is_ok()) {
            f.archiver =
                ArchiverFacts{"walvault_status()", to_int(row[0]), row[1], to_int(row[2]), to_int(row[3]), row[4]};
            return f;
        }
    }
    s = pg.query_row("SELECT failed_count, last_failed_wal, coalesce(extract(epoch FROM last_failed_time)::bigint, 0), "
                     "coalesce(extract(epoch FROM last_archived_time)::bigint, 0) FROM pg_stat_archiver",
        {}, row);
    if (s.is_ok())
        f.archiver = ArchiverFacts{"pg_stat_archiver", to_int(row[0]), row[1], to_int(row[2]), to_int(row[3]), ""};
    else
        f.archiver_error = s;
    return f;
}

CheckResult unknown(const char* name, const std::string& why)
{
    return CheckResult{name, CheckState::unknown, why};
}

std::string with_hint(const Status& s)
{
    return s.hint().empty() ? s.message() : s.message() + " (" + s.hint() + ")";
}

// The repository's part: backup-age, wal-continuity, and what wal-age needs without a server. A failure to
// read makes the checks it feeds UNKNOWN.
struct RepoFacts {
    std::optional<Status> error;  // the repository could not be read
    std::optional<NewestBackup> newest_backup;
    std::optional<int64_t> oldest_backup_stop;
    ContinuityFacts continuity;
    std::optional<ArchivedSegment> newest_wal;  // on the newest timeline
    uint64_t wal_segment_size = 0;
    std::vector<ReceiveState> receivers;  // the newest state of each walvault receive slot
};

RepoFacts read_repository(Storage& storage)
{
    RepoFacts f;
    RepoIdentity id;
    Status s = read_identity(storage, id);
    if (s.code() == Code::not_found)
        s = Status::error(Code::not_found,
            "repository \"" + storage.location() + "\" has no identity.json: nothing was archived to it yet");
    std::vector<std::string> labels;
    if (s.is_ok())
        s = list_backup_labels(storage, labels);
    std::optional<BackupManifest> newest;
    for (size_t i = 0; s.is_ok() && i < labels.size(); ++i) {
        std::string text;
        s = read_small_object(storage, backup_manifest_key(labels[i]), text);
        if (s.code() == Code::not_found) {  // an incomplete backup
            s = Status::ok();
            continue;
        }
        BackupManifest m;
        int64_t stop = 0;
        if (s.is_ok())
            s = manifest_from_json(text, m);
        if (s.is_ok())
            s = parse_utc_time(m.stop_time, stop);
        if (!s.is_ok()) {
            s = s.prefix("backup \"" + labels[i] + "\" (" + storage.location(backup_manifest_key(labels[i])) + ")");
            break;
        }
        if (!f.newest_backup || stop > f.newest_backup->stop_time) {
            f.newest_backup = NewestBackup{labels[i], stop};
            newest = std::move(m);
        }
        if (!f.oldest_backup_stop || stop < *f.oldest_backup_stop)
            f.oldest_backup_stop = stop;
    }
    f.wal_segment_size = id.wal_segment_size;
    if (s.is_ok())
        s = read_receive_states(storage, f.receivers);
    std::vector<uint32_t> timelines;
    if (s.is_ok())
        s = list_wal_timelines(storage, timelines);
    std::optional<uint32_t> newest_known;  // the timeline whose newest segment the lineage found
    if (s.is_ok() && newest) {
        const uint64_t size = id.wal_segment_size;
        ContinuityFacts& c = f.continuity;
        c.backup_label = f.newest_backup->label;
        c.start_segment = segment_file_name(newest->timeline, newest->start_lsn / size, size);
        const uint64_t stop_segno = newest->stop_lsn == 0 ? 0 : (newest->stop_lsn - 1) / size;
        c.stop_segment = segment_file_name(newest->timeline, stop_segno, size);
        WalLineage lineage;
        s = find_wal_lineage(storage, newest->timeline, newest->start_lsn, size, timelines, lineage);
        for (size_t i = 0; s.is_ok() && i < lineage.stretches.size(); ++i) {
            std::vector<WalGap> gaps;
            uint64_t segments = 0;
            s = find_stretch_gaps(storage, lineage.stretches[i], size, gaps, segments);
            c.segments += segments;
            c.gaps.insert(c.gaps.end(), gaps.begin(), gaps.end());
        }
        if (lineage.newest) {
            c.newest_segment = lineage.newest->name;
            c.stop_archived =
                lineage.stretches.back().timeline != newest->timeline || lineage.newest->segno >= stop_segno;
        }
        newest_known = lineage.stretches.back().timeline;
        f.newest_wal = lineage.newest;
    }
    // wal-age without a server and the PITR window look at the newest timeline (usually the lineage's end);
    // one with no segment yet, only its history file, leaves the lineage's newest segment.
    if (s.is_ok() && !timelines.empty() && newest_known != timelines.back()) {
        std::optional<ArchivedSegment> on_newest;
        s = newest_segment(storage, timelines.back(), id.wal_segment_size, on_newest);
        if (on_newest)
            f.newest_wal = on_newest;
    }
    if (!s.is_ok())
        f.error = s;
    return f;
}

Status check(CheckContext& ctx)
{
    CheckReport report;
    CheckThresholds& t = report.thresholds;
    Status s = parse_duration("--backup-interval", ctx.backup_interval, t.backup_interval_s);
    if (s.is_ok())
        s = parse_duration("--backup-grace", ctx.backup_grace, t.backup_grace_s);
    int64_t wal_max_age = 0;
    if (s.is_ok() && !ctx.wal_max_age.empty())
        s = parse_duration("--wal-max-age", ctx.wal_max_age, wal_max_age);
    int64_t receive_max_lag = 0;
    if (s.is_ok() && !ctx.receive_max_lag.empty())
        s = parse_size("--receive-max-lag", ctx.receive_max_lag, receive_max_lag);
    if (s.is_ok())
        s = parse_duration("--receive-max-age", ctx.receive_max_age, t.receive_max_age_s);
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    if (s.is_ok())
        s = open_repository(ctx.common, settings, storage);
    if (!s.is_ok())
        return s;  // a usage or settings error: UNKNOWN, with the message on stderr
    report.repository = storage->location();

    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    const RepoFacts repo = read_repository(*storage);
    std::optional<ServerFacts> server;
    if (!ctx.dbname.empty())
        server = read_server(ctx.dbname, !repo.receivers.empty());
    if (!ctx.wal_max_age.empty())
        t.wal_max_age_s = wal_max_age;
    else if (server && server->checkpoint_timeout_s)
        t.wal_max_age_s = *server->checkpoint_timeout_s + k_wal_age_margin_s;
    if (!ctx.receive_max_lag.empty())
        t.receive_max_lag_bytes = receive_max_lag;
    else if (repo.wal_segment_size > 0)
        t.receive_max_lag_bytes = static_cast<int64_t>(k_default_receive_lag_segments * repo.wal_segment_size);

    CheckMetrics& m = report.metrics;
    // backup-age
    if (repo.error) {
        report.checks.push_back(unknown("backup-age", "could not read the repository: " + with_hint(*repo.error)));
    } else {
        report.checks.push_back(check_backup_age(repo.newest_backup, now, t));
        if (repo.newest_backup)
            m.backup_age_s = now - repo.newest_backup->stop_time;
    }
    // wal-age
    if (server) {
        m.wal_age_source = "server";
        if (server->unreachable)
            report.checks.push_back(unknown("wal-age", "could not ask the server: " + with_hint(*server->unreachable)));
        else if (server->archive_mode_off)
            report.checks.push_back(CheckResult{"wal-age", CheckState::critical, "archive_mode is off on the server"});
        else if (server->ready_error)
            report.checks.push_back(
                unknown("wal-age", "could not read the server's archive status: " + with_hint(*server->ready_error)));
        else {
            report.checks.push_back(check_wal_age_server(server->ready_count, server->oldest_ready_age_s, t));
            m.wal_ready_count = server->ready_count;
            m.wal_archive_age_s = server->ready_count > 0 ? server->oldest_ready_age_s : 0;
        }
    } else if (repo.error) {
        report.checks.push_back(unknown("wal-age", "could not read the repository: " + with_hint(*repo.error)));
    } else {
        m.wal_age_source = "repository";
        report.checks.push_back(
            check_wal_age_repository(repo.newest_wal ? std::optional(repo.newest_wal->name) : std::nullopt,
                repo.newest_wal ? repo.newest_wal->modified : 0, now, t));
        if (repo.newest_wal && repo.newest_wal->modified > 0)
            m.wal_archive_age_s = now - repo.newest_wal->modified;
    }
    // wal-continuity
    if (repo.error) {
        report.checks.push_back(unknown("wal-continuity", "could not read the repository: " + with_hint(*repo.error)));
    } else {
        report.checks.push_back(check_wal_continuity(repo.continuity));
        if (repo.newest_backup)
            m.wal_gap_count = static_cast<int64_t>(repo.continuity.gaps.size());
        if (repo.oldest_backup_stop && repo.newest_wal && repo.newest_wal->modified > 0)
            m.pitr_window_s = std::max<int64_t>(0, repo.newest_wal->modified - *repo.oldest_backup_stop);
    }
    // archiver
    if (server) {
        if (server->unreachable)
            report.checks.push_back(
                unknown("archiver", "could not ask the server: " + with_hint(*server->unreachable)));
        else if (server->archiver) {
            report.checks.push_back(check_archiver(*server->archiver));
            m.archive_failed_total = server->archiver->failed_count;
        } else
            report.checks.push_back(unknown(
                "archiver", "could not read the server's archiver statistics: " + with_hint(*server->archiver_error)));
    }
    // receive: only where walvault receive wrote a state
    if (!repo.receivers.empty()) {
        if (server && server->unreachable)
            report.checks.push_back(unknown("receive", "could not ask the server: " + with_hint(*server->unreachable)));
        else if (server && server->slots_error)
            report.checks.push_back(
                unknown("receive", "could not read pg_replication_slots: " + with_hint(*server->slots_error)));
        else {
            std::vector<ReceiverFacts> facts;
            for (const ReceiveState& st : repo.receivers) {
                ReceiverFacts f;
                f.slot = st.slot;
                f.updated = st.updated;
                f.state_lag_bytes = st.server_lsn > st.flushed_lsn ? st.server_lsn - st.flushed_lsn : 0;
                if (server) {
                    f.server_asked = true;
                    for (const PgRow& row : server->slots)
                        if (row.size() >= 4 && row[0] == st.slot) {
                            f.slot_exists = true;
                            f.active = row[1] == "t";
                            f.wal_status = row[2];
                            f.retained_bytes = static_cast<uint64_t>(std::max<int64_t>(0, to_int(row[3])));
                        }
                }
                facts.push_back(f);
                m.receivers.push_back(CheckMetrics::Receiver{f.slot, static_cast<int64_t>(f.lag_bytes()),
                    std::max<int64_t>(0, now - f.updated), server ? std::optional(f.active) : std::nullopt});
            }
            report.checks.push_back(check_receive(facts, now, t));
        }
    }

    std::string out;
    if (ctx.output == "json")
        out = format_check_json(report, now);
    else if (ctx.output == "prometheus")
        out = format_check_prometheus(report);
    else
        out = format_check_text(report);
    std::fputs(out.c_str(), stdout);
    ctx.exit_code = static_cast<int>(report.state());
    return Status::ok();
}

}  // namespace

void add_check_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<CheckContext>();
    ctx->backup_interval = format_setting_quantity(k_default_backup_interval_s, SettingUnit::s);
    ctx->backup_grace = format_setting_quantity(k_default_backup_grace_s, SettingUnit::s);
    ctx->receive_max_age = format_setting_quantity(k_default_receive_max_age_s, SettingUnit::s);
    CLI::App* cmd = app.add_subcommand(k_command,
        "Check backups and archiving for monitoring (Nagios exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).");
    cmd->add_option("--dbname", ctx->dbname,
        "the server to ask about WAL waiting to be archived and archive failures: a libpq conninfo string or URI; "
        "without it, wal-age is judged from the repository alone and archiver is not checked");
    cmd->add_option("--output", ctx->output, "text (one Nagios plugin line with perfdata), json or prometheus")
        ->check(CLI::IsMember({"text", "json", "prometheus"}))
        ->capture_default_str();
    cmd->add_option("--backup-interval", ctx->backup_interval,
           "how often backups are taken: WARNING when the newest is older than this plus --backup-grace, "
           "CRITICAL past twice this plus --backup-grace")
        ->capture_default_str();
    cmd->add_option("--backup-grace", ctx->backup_grace, "how long a backup may take")->capture_default_str();
    cmd->add_option("--wal-max-age", ctx->wal_max_age,
        "WARNING when WAL has waited longer than this to be archived, CRITICAL past twice this (default: the "
        "server's checkpoint_timeout plus 2min; 7min without --dbname)");
    cmd->add_option("--receive-max-lag", ctx->receive_max_lag,
        "receive: WARNING when a walvault receive slot has more WAL than this not yet in the repository, CRITICAL "
        "past twice this (default: 4 WAL segments, 64MB with 16MB segments)");
    cmd->add_option("--receive-max-age", ctx->receive_max_age,
           "receive: WARNING when a receiver's newest state is older than this (it writes one every minute while "
           "streaming), CRITICAL past twice this")
        ->capture_default_str();
    add_setting_flags(*cmd, ctx->common, k_use_check);
    cmd->callback([ctx, &exit_code] {
        const Status s = check(*ctx);
        if (!s.is_ok()) {
            if (ctx->output == "text")  // a plugin's status line; json and prometheus stay empty
                std::printf("WALVAULT UNKNOWN - %s\n", s.message().c_str());
            print_error(k_command, s);
            exit_code = static_cast<int>(CheckState::unknown);
            return;
        }
        exit_code = ctx->exit_code;
    });
}

}  // namespace walvault
