// Unit tests for core/repo/health: the thresholds of each check at their edges, the idle-server rule, the
// order of states, and the exact Nagios line, JSON document and Prometheus exposition for fixed inputs.
#include "core/repo/health.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

namespace walvault {
namespace {

constexpr int64_t k_now = 1'796'000'000;  // 2026-11-30T00:53:20Z
constexpr int64_t k_day = 86400;

TEST(Health, StateNamesAndExitCodes)
{
    EXPECT_STREQ(check_state_name(CheckState::ok), "OK");
    EXPECT_STREQ(check_state_name(CheckState::warning), "WARNING");
    EXPECT_STREQ(check_state_name(CheckState::critical), "CRITICAL");
    EXPECT_STREQ(check_state_name(CheckState::unknown), "UNKNOWN");
    EXPECT_EQ(static_cast<int>(CheckState::ok), 0);
    EXPECT_EQ(static_cast<int>(CheckState::warning), 1);
    EXPECT_EQ(static_cast<int>(CheckState::critical), 2);
    EXPECT_EQ(static_cast<int>(CheckState::unknown), 3);
}

TEST(Health, WorseState)
{
    EXPECT_EQ(worse_state(CheckState::ok, CheckState::unknown), CheckState::unknown);
    EXPECT_EQ(worse_state(CheckState::unknown, CheckState::warning), CheckState::warning);
    EXPECT_EQ(worse_state(CheckState::critical, CheckState::unknown), CheckState::critical);
    EXPECT_EQ(worse_state(CheckState::warning, CheckState::critical), CheckState::critical);
    CheckReport report;
    EXPECT_EQ(report.state(), CheckState::unknown);  // nothing checked
    report.checks = {{"a", CheckState::ok, ""}, {"b", CheckState::warning, ""}, {"c", CheckState::unknown, ""}};
    EXPECT_EQ(report.state(), CheckState::warning);
}

TEST(Health, FormatDuration)
{
    EXPECT_EQ(format_duration(0), "0s");
    EXPECT_EQ(format_duration(45), "45s");
    EXPECT_EQ(format_duration(60), "1min");
    EXPECT_EQ(format_duration(725), "12min 5s");
    EXPECT_EQ(format_duration(9000), "2h 30min");
    EXPECT_EQ(format_duration(8 * k_day + 3 * 3600 + 59), "8d 3h");
    EXPECT_EQ(format_duration(7 * k_day + 300), "7d 5min");
    EXPECT_EQ(format_duration(-90), "-1min 30s");
}

TEST(Health, BackupAgeThresholds)
{
    const CheckThresholds t;  // 7d interval, 5min grace
    EXPECT_EQ(t.backup_warning_s(), 7 * k_day + 300);
    EXPECT_EQ(t.backup_critical_s(), 14 * k_day + 300);
    auto state_at = [&](int64_t age) { return check_backup_age(NewestBackup{"b", k_now - age}, k_now, t).state; };
    EXPECT_EQ(state_at(0), CheckState::ok);
    EXPECT_EQ(state_at(7 * k_day + 300), CheckState::ok);
    EXPECT_EQ(state_at(7 * k_day + 301), CheckState::warning);
    EXPECT_EQ(state_at(14 * k_day + 300), CheckState::warning);
    EXPECT_EQ(state_at(14 * k_day + 301), CheckState::critical);

    const CheckResult none = check_backup_age(std::nullopt, k_now, t);
    EXPECT_EQ(none.state, CheckState::critical);
    EXPECT_EQ(none.message, "no complete backup in the repository");

    const CheckResult old = check_backup_age(NewestBackup{"20261120T000000Z", k_now - 8 * k_day}, k_now, t);
    EXPECT_EQ(old.name, "backup-age");
    EXPECT_EQ(old.message, "newest backup \"20261120T000000Z\" finished 8d ago (warning above 7d 5min)");
}

TEST(Health, WalAgeFromTheServer)
{
    CheckThresholds t;
    t.wal_max_age_s = 420;  // checkpoint_timeout 5min + 2min
    // An idle server with nothing waiting is OK, whatever the last archive time.
    const CheckResult idle = check_wal_age_server(0, 0, t);
    EXPECT_EQ(idle.state, CheckState::ok);
    EXPECT_EQ(idle.message, "no WAL waiting to be archived");
    EXPECT_EQ(check_wal_age_server(3, 420, t).state, CheckState::ok);
    EXPECT_EQ(check_wal_age_server(3, 421, t).state, CheckState::warning);
    EXPECT_EQ(check_wal_age_server(3, 840, t).state, CheckState::warning);
    const CheckResult stuck = check_wal_age_server(3, 841, t);
    EXPECT_EQ(stuck.state, CheckState::critical);
    EXPECT_EQ(stuck.message, "3 WAL files waiting to be archived, the oldest for 14min 1s (critical above 14min)");
}

TEST(Health, WalAgeFromTheRepository)
{
    const CheckThresholds t;  // 7min
    const CheckResult r = check_wal_age_repository(std::string("000000010000000000000009"), k_now - 60, k_now, t);
    EXPECT_EQ(r.state, CheckState::ok);
    EXPECT_EQ(r.message,
        "newest segment \"000000010000000000000009\" archived 1min ago (from the repository alone, a weaker "
        "check: pass --dbname to ask the server)");
    EXPECT_EQ(check_wal_age_repository(std::string("x"), k_now - 421, k_now, t).state, CheckState::warning);
    EXPECT_EQ(check_wal_age_repository(std::string("x"), k_now - 841, k_now, t).state, CheckState::critical);
    EXPECT_EQ(check_wal_age_repository(std::nullopt, 0, k_now, t).state, CheckState::critical);
    EXPECT_EQ(check_wal_age_repository(std::string("x"), 0, k_now, t).state, CheckState::unknown);
}

TEST(Health, WalContinuity)
{
    ContinuityFacts f;
    EXPECT_EQ(check_wal_continuity(f).state, CheckState::critical);  // no backup
    f.backup_label = "b1";
    f.start_segment = "000000010000000000000003";
    f.stop_segment = "000000010000000000000004";
    f.newest_segment = "000000010000000000000009";
    f.stop_archived = true;
    f.segments = 7;
    CheckResult r = check_wal_continuity(f);
    EXPECT_EQ(r.state, CheckState::ok);
    EXPECT_EQ(r.message,
        "no gap from backup \"b1\" (\"000000010000000000000003\") to \"000000010000000000000009\", 7 segments");

    f.stop_archived = false;
    f.newest_segment = "000000010000000000000003";
    EXPECT_EQ(check_wal_continuity(f).state, CheckState::warning);

    f.gaps = {{"000000010000000000000005", "000000010000000000000005", 1},
        {"000000010000000000000007", "000000010000000000000008", 2}};
    r = check_wal_continuity(f);
    EXPECT_EQ(r.state, CheckState::critical);
    EXPECT_EQ(r.message,
        "2 gaps (3 segments missing) after backup \"b1\", the first \"000000010000000000000005\": "
        "recovery stops there");
}

TEST(Health, Archiver)
{
    ArchiverFacts f{"walvault_status()", 0, "", 0, k_now - 10, ""};
    EXPECT_EQ(check_archiver(f).state, CheckState::ok);
    EXPECT_EQ(check_archiver(f).message, "no failure (walvault_status())");
    f.failed_count = 2;
    f.last_failed_wal = "000000010000000000000009";
    f.last_failed_time = 1'796'000'000;  // 2026-11-30T00:53:20Z
    f.last_archived_time = f.last_failed_time - 5;
    f.last_error = "could not create file \"/repo/wal/x\": Permission denied";
    const CheckResult failing = check_archiver(f);
    EXPECT_EQ(failing.state, CheckState::warning);
    EXPECT_EQ(failing.message,
        "archiving is failing: 2 failures, the last \"000000010000000000000009\" at 2026-11-30T00:53:20Z: could not "
        "create file \"/repo/wal/x\": Permission denied (walvault_status())");
    f.last_archived_time = f.last_failed_time + 5;  // succeeded since
    EXPECT_EQ(check_archiver(f).state, CheckState::ok);
}

TEST(Health, Receive)
{
    CheckThresholds t;
    t.receive_max_lag_bytes = 64LL * 1024 * 1024;
    ReceiverFacts f;
    f.slot = "walvault_rx";
    f.updated = k_now - 30;
    f.state_lag_bytes = 1536;
    // From the repository alone: the receiver's own figure at its last upload.
    CheckResult r = check_receive({f}, k_now, t);
    EXPECT_EQ(r.name, "receive");
    EXPECT_EQ(r.state, CheckState::ok);
    EXPECT_EQ(r.message, "slot \"walvault_rx\" 1.5 kiB behind the server when last uploaded, last upload 30s ago");
    f.updated = k_now - 6 * 60;
    r = check_receive({f}, k_now, t);
    EXPECT_EQ(r.state, CheckState::warning);
    EXPECT_EQ(r.message,
        "slot \"walvault_rx\" 1.5 kiB behind the server when last uploaded, last upload 6min ago (warning above "
        "5min without an upload: the receiver writes its state every 1min while it streams)");
    f.updated = k_now - 11 * 60;
    EXPECT_EQ(check_receive({f}, k_now, t).state, CheckState::critical);

    // With the server: the WAL the slot retains is the lag.
    f.updated = k_now - 10;
    f.server_asked = true;
    f.slot_exists = true;
    f.active = true;
    f.wal_status = "reserved";
    f.retained_bytes = 80ULL * 1024 * 1024;
    EXPECT_EQ(f.lag_bytes(), f.retained_bytes);
    r = check_receive({f}, k_now, t);
    EXPECT_EQ(r.state, CheckState::warning);
    EXPECT_EQ(r.message,
        "slot \"walvault_rx\" 80.0 MiB behind the server, last upload 10s ago (warning above 64.0 MiB "
        "behind)");
    f.retained_bytes = 129ULL * 1024 * 1024;
    EXPECT_EQ(check_receive({f}, k_now, t).state, CheckState::critical);
    f.retained_bytes = 0;
    EXPECT_EQ(check_receive({f}, k_now, t).state, CheckState::ok);
    f.active = false;
    r = check_receive({f}, k_now, t);
    EXPECT_EQ(r.state, CheckState::warning);
    EXPECT_EQ(r.message,
        "slot \"walvault_rx\" 0 B behind the server, last upload 10s ago (no receiver is connected "
        "to the slot)");
    f.wal_status = "unreserved";
    EXPECT_EQ(check_receive({f}, k_now, t).state, CheckState::warning);
    f.wal_status = "lost";
    EXPECT_EQ(check_receive({f}, k_now, t).state, CheckState::critical);
    f.slot_exists = false;
    f.state_lag_bytes = 0;
    r = check_receive({f}, k_now, t);
    EXPECT_EQ(r.state, CheckState::critical);
    EXPECT_EQ(r.message,
        "slot \"walvault_rx\" 0 B behind the server when last uploaded, last upload 10s ago (the "
        "slot does not exist on the server)");

    // Two slots: the worse one decides, both are named.
    ReceiverFacts g;
    g.slot = "b";
    g.updated = k_now;
    f.slot_exists = true;
    f.active = true;
    f.wal_status = "reserved";
    r = check_receive({f, g}, k_now, t);
    EXPECT_EQ(r.state, CheckState::ok);
    EXPECT_EQ(r.message,
        "slot \"walvault_rx\" 0 B behind the server, last upload 10s ago, slot \"b\" 0 B behind the "
        "server when last uploaded, last upload 0s ago");
    g.updated = k_now - 3600;
    EXPECT_EQ(check_receive({f, g}, k_now, t).state, CheckState::critical);
}

CheckReport sample_report()
{
    CheckReport r;
    r.repository = "/var/lib/walvault/main";
    r.thresholds.wal_max_age_s = 420;
    r.checks = {{"backup-age", CheckState::ok, "newest backup \"b1\" finished 1h ago"},
        {"wal-age", CheckState::warning, "2 WAL files waiting | now\nand then"},
        {"wal-continuity", CheckState::ok, "no gap"}, {"archiver", CheckState::ok, "no failure"}};
    r.metrics.backup_age_s = 3600;
    r.metrics.wal_archive_age_s = 500;
    r.metrics.wal_age_source = "server";
    r.metrics.wal_ready_count = 2;
    r.metrics.wal_gap_count = 0;
    r.metrics.archive_failed_total = 4;
    r.metrics.pitr_window_s = 90000;
    return r;
}

CheckReport sample_report_with_receivers()
{
    CheckReport r = sample_report();
    r.thresholds.receive_max_lag_bytes = 64LL * 1024 * 1024;
    r.checks.push_back({"receive", CheckState::ok, "slot \"rx\" 0 B behind the server"});
    r.metrics.receivers = {{"rx", 4096, 20, true}, {"rx2", 0, 30, std::nullopt}};
    return r;
}

TEST(Health, NagiosLine)
{
    EXPECT_EQ(format_check_text(sample_report()),
        "WALVAULT WARNING - backup-age OK: newest backup \"b1\" finished 1h ago; wal-age WARNING: 2 WAL files "
        "waiting / now and then; wal-continuity OK: no gap; archiver OK: no failure | "
        "backup_age=3600s;605100;1209900;0 wal_age=500s;420;840;0 wal_ready=2;;;0 wal_gaps=0;;0;0 "
        "archive_failed=4c;;;0 pitr_window=90000s;;;0\n");
    EXPECT_EQ(format_check_text(sample_report_with_receivers()),
        "WALVAULT WARNING - backup-age OK: newest backup \"b1\" finished 1h ago; wal-age WARNING: 2 WAL files "
        "waiting / now and then; wal-continuity OK: no gap; archiver OK: no failure; receive OK: slot \"rx\" 0 B "
        "behind the server | backup_age=3600s;605100;1209900;0 wal_age=500s;420;840;0 wal_ready=2;;;0 "
        "wal_gaps=0;;0;0 archive_failed=4c;;;0 pitr_window=90000s;;;0 receive_lag_rx=4096B;67108864;134217728;0 "
        "receive_age_rx=20s;300;600;0 receive_lag_rx2=0B;67108864;134217728;0 receive_age_rx2=30s;300;600;0\n");
    CheckReport bare;
    bare.checks = {{"backup-age", CheckState::critical, "no complete backup in the repository"}};
    EXPECT_EQ(
        format_check_text(bare), "WALVAULT CRITICAL - backup-age CRITICAL: no complete backup in the repository\n");
}

TEST(Health, Json)
{
    const nlohmann::json j = nlohmann::json::parse(format_check_json(sample_report(), k_now));
    EXPECT_EQ(j["format"], 1);
    EXPECT_EQ(j["repository"], "/var/lib/walvault/main");
    EXPECT_EQ(j["time"], "2026-11-30T00:53:20Z");
    EXPECT_EQ(j["state"], "WARNING");
    EXPECT_EQ(j["exit_code"], 1);
    ASSERT_EQ(j["checks"].size(), 4U);
    EXPECT_EQ(j["checks"][1]["name"], "wal-age");
    EXPECT_EQ(j["checks"][1]["state"], "WARNING");
    EXPECT_EQ(j["checks"][1]["message"], "2 WAL files waiting | now\nand then");  // JSON keeps it as it is
    EXPECT_EQ(j["metrics"]["backup_age_seconds"], 3600);
    EXPECT_EQ(j["metrics"]["wal_archive_age_seconds"], 500);
    EXPECT_EQ(j["metrics"]["wal_age_source"], "server");
    EXPECT_EQ(j["metrics"]["wal_ready_count"], 2);
    EXPECT_EQ(j["metrics"]["wal_gap_count"], 0);
    EXPECT_EQ(j["metrics"]["archive_failed_total"], 4);
    EXPECT_EQ(j["metrics"]["pitr_window_seconds"], 90000);
    EXPECT_EQ(j["thresholds"]["backup_warning_seconds"], 605100);
    EXPECT_EQ(j["thresholds"]["backup_critical_seconds"], 1209900);
    EXPECT_EQ(j["thresholds"]["wal_warning_seconds"], 420);
    EXPECT_EQ(j["thresholds"]["wal_critical_seconds"], 840);
    EXPECT_EQ(j["metrics"]["receivers"], nlohmann::json::array());
    const nlohmann::json rx = nlohmann::json::parse(format_check_json(sample_report_with_receivers(), k_now));
    ASSERT_EQ(rx["metrics"]["receivers"].size(), 2U);
    EXPECT_EQ(rx["metrics"]["receivers"][0]["slot"], "rx");
    EXPECT_EQ(rx["metrics"]["receivers"][0]["lag_bytes"], 4096);
    EXPECT_EQ(rx["metrics"]["receivers"][0]["state_age_seconds"], 20);
    EXPECT_EQ(rx["metrics"]["receivers"][0]["connected"], true);
    EXPECT_TRUE(rx["metrics"]["receivers"][1]["connected"].is_null());
    EXPECT_EQ(rx["thresholds"]["receive_lag_warning_bytes"], 67108864);
    EXPECT_EQ(rx["thresholds"]["receive_lag_critical_bytes"], 134217728);
    EXPECT_EQ(rx["thresholds"]["receive_age_warning_seconds"], 300);
    EXPECT_EQ(rx["thresholds"]["receive_age_critical_seconds"], 600);

    CheckReport bare;
    bare.checks = {{"backup-age", CheckState::ok, ""}};
    const nlohmann::json b = nlohmann::json::parse(format_check_json(bare, k_now));
    EXPECT_TRUE(b["metrics"]["wal_ready_count"].is_null());
    EXPECT_TRUE(b["metrics"]["wal_age_source"].is_null());
}

TEST(Health, Prometheus)
{
    CheckReport r = sample_report();
    r.repository = "s3://bkp/a\"b";
    EXPECT_EQ(format_check_prometheus(r),
        "# HELP walvault_backup_age_seconds Seconds since the newest complete backup finished.\n"
        "# TYPE walvault_backup_age_seconds gauge\n"
        "walvault_backup_age_seconds{repo=\"s3://bkp/a\\\"b\"} 3600\n"
        "# HELP walvault_wal_archive_age_seconds Age of the WAL the wal-age check judged: source=\"server\", the "
        "oldest file waiting to be archived (0 if none); source=\"repository\", the newest archived segment.\n"
        "# TYPE walvault_wal_archive_age_seconds gauge\n"
        "walvault_wal_archive_age_seconds{repo=\"s3://bkp/a\\\"b\",source=\"server\"} 500\n"
        "# HELP walvault_wal_ready_files WAL files waiting to be archived (.ready files).\n"
        "# TYPE walvault_wal_ready_files gauge\n"
        "walvault_wal_ready_files{repo=\"s3://bkp/a\\\"b\"} 2\n"
        "# HELP walvault_wal_gaps Gaps in the archived WAL from the newest backup to the newest segment.\n"
        "# TYPE walvault_wal_gaps gauge\n"
        "walvault_wal_gaps{repo=\"s3://bkp/a\\\"b\"} 0\n"
        "# HELP walvault_archive_failed_total Failed archive attempts since the statistics were reset.\n"
        "# TYPE walvault_archive_failed_total counter\n"
        "walvault_archive_failed_total{repo=\"s3://bkp/a\\\"b\"} 4\n"
        "# HELP walvault_pitr_window_seconds Seconds from the oldest complete backup's end to the newest archived "
        "segment.\n"
        "# TYPE walvault_pitr_window_seconds gauge\n"
        "walvault_pitr_window_seconds{repo=\"s3://bkp/a\\\"b\"} 90000\n"
        "# HELP walvault_check_state State of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
        "# TYPE walvault_check_state gauge\n"
        "walvault_check_state{repo=\"s3://bkp/a\\\"b\",check=\"backup-age\"} 0\n"
        "walvault_check_state{repo=\"s3://bkp/a\\\"b\",check=\"wal-age\"} 1\n"
        "walvault_check_state{repo=\"s3://bkp/a\\\"b\",check=\"wal-continuity\"} 0\n"
        "walvault_check_state{repo=\"s3://bkp/a\\\"b\",check=\"archiver\"} 0\n");

    const std::string rx = format_check_prometheus(sample_report_with_receivers());
    EXPECT_NE(rx.find("# HELP walvault_receive_lag_bytes WAL a walvault receive slot has not made durable in the "
                      "repository"),
        std::string::npos);
    EXPECT_NE(rx.find("# TYPE walvault_receive_lag_bytes gauge\n"
                      "walvault_receive_lag_bytes{repo=\"/var/lib/walvault/main\",slot=\"rx\"} 4096\n"
                      "walvault_receive_lag_bytes{repo=\"/var/lib/walvault/main\",slot=\"rx2\"} 0\n"),
        std::string::npos);
    EXPECT_NE(rx.find("# TYPE walvault_receive_state_age_seconds gauge\n"
                      "walvault_receive_state_age_seconds{repo=\"/var/lib/walvault/main\",slot=\"rx\"} 20\n"
                      "walvault_receive_state_age_seconds{repo=\"/var/lib/walvault/main\",slot=\"rx2\"} 30\n"),
        std::string::npos);
    // Only the slot the server was asked about has a connected sample.
    EXPECT_NE(rx.find("# TYPE walvault_receive_connected gauge\n"
                      "walvault_receive_connected{repo=\"/var/lib/walvault/main\",slot=\"rx\"} 1\n# HELP"),
        std::string::npos);
    EXPECT_NE(
        rx.find("walvault_check_state{repo=\"/var/lib/walvault/main\",check=\"receive\"} 0\n"), std::string::npos);
}

}  // namespace
}  // namespace walvault
