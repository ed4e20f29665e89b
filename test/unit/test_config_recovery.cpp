// Unit tests for core/config/recovery: recovery targets parsed and normalized (local times under several
// TZ settings), option checks, the exact lines restore appends to postgresql.auto.conf, stripping earlier
// recovery settings, quoting; and PostgreSQL 15 itself reading the rendered settings back.
#include "core/config/recovery.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

constexpr const char* k_time_hint =
    "Write the time as \"YYYY-MM-DD HH:MM:SS[.ffffff][Z|+HH|+HH:MM|+HHMM|-HH|-HH:MM|-HHMM]\", for example "
    "\"2026-11-23 10:15:00+01\"; without an offset it is read in the local time zone.";

RecoveryTarget target_time(std::string_view text)
{
    RecoveryTarget t;
    const Status s = parse_target_time(text, t);
    EXPECT_TRUE(s.is_ok()) << text << ": " << s.message();
    EXPECT_EQ(t.kind, RecoveryTarget::Kind::time) << text;
    return t;
}

Status time_error(std::string_view text)
{
    RecoveryTarget t;
    t.value = "untouched";
    Status s = parse_target_time(text, t);
    EXPECT_EQ(s.code(), Code::invalid) << text;
    EXPECT_EQ(t.value, "untouched") << text;
    return s;
}

TEST(ParseTargetTime, ExplicitOffsetsAreNormalizedToUtc)
{
    struct Case {
        const char* text;
        const char* value;
        int64_t time_us;
    };
    for (const Case& c : std::vector<Case>{
             {"2026-11-23 09:15:00Z", "2026-11-23 09:15:00+00", 1795425300000000},
             {"2026-11-23T09:15:00Z", "2026-11-23 09:15:00+00", 1795425300000000},
             {"2026-11-23 10:15:00+01", "2026-11-23 09:15:00+00", 1795425300000000},
             {"2026-11-23T10:15:00.5+01:00", "2026-11-23 09:15:00.5+00", 1795425300500000},
             {"2026-11-23 04:45:00.123456-0430", "2026-11-23 09:15:00.123456+00", 1795425300123456},
             {"2026-11-23 00:15:00-09", "2026-11-23 09:15:00+00", 1795425300000000},
             {"2026-11-23 09:15:00-00", "2026-11-23 09:15:00+00", 1795425300000000},
             {"2026-11-23 09:15:00+00:00", "2026-11-23 09:15:00+00", 1795425300000000},
             {"2026-11-23 09:15:00.000100Z", "2026-11-23 09:15:00.0001+00", 1795425300000100},
             {"2026-11-23 09:15:00.120Z", "2026-11-23 09:15:00.12+00", 1795425300120000},
             {"2026-11-23 09:15:00.000000Z", "2026-11-23 09:15:00+00", 1795425300000000},
             {"2026-01-01 00:30:00+01", "2025-12-31 23:30:00+00", 1767223800000000},     // the year changes
             {"2024-02-29 23:00:00-02", "2024-03-01 01:00:00+00", 1709254800000000},     // leap day
             {"2026-11-23 09:15:00+15:59", "2026-11-22 17:16:00+00", 1795367760000000},  // largest offset
             {"1970-01-01 00:00:00Z", "1970-01-01 00:00:00+00", 0},
             {"9999-12-31 23:59:59.999999Z", "9999-12-31 23:59:59.999999+00", 253402300799999999},
         }) {
        const RecoveryTarget t = target_time(c.text);
        EXPECT_EQ(t.value, c.value) << c.text;
        EXPECT_EQ(t.time_us, c.time_us) << c.text;
        EXPECT_EQ(t.xid, 0u);
        EXPECT_EQ(t.lsn, 0u);
    }
}

TEST(ParseTargetTime, WithoutOffsetTheLocalTimeZoneApplies)
{
    struct Case {
        const char* tz;
        const char* text;
        const char* value;
    };
    for (const Case& c : std::vector<Case>{
             {"UTC", "2026-11-23 09:15:00", "2026-11-23 09:15:00+00"},
             {"UTC", "2026-11-23T09:15:00.25", "2026-11-23 09:15:00.25+00"},
             {"America/New_York", "2026-11-23 04:15:00", "2026-11-23 09:15:00+00"},  // EST, UTC-5
             {"America/New_York", "2026-07-01 12:00:00", "2026-07-01 16:00:00+00"},  // EDT, UTC-4
             // either side of the hour the clocks repeat (2026-11-01) and of the hour they skip (2026-03-08)
             {"America/New_York", "2026-11-01 00:59:59", "2026-11-01 04:59:59+00"},
             {"America/New_York", "2026-11-01 02:00:00", "2026-11-01 07:00:00+00"},
             {"America/New_York", "2026-03-08 01:59:59", "2026-03-08 06:59:59+00"},
             {"America/New_York", "2026-03-08 03:00:00", "2026-03-08 07:00:00+00"},
             {"EST5EDT,M3.2.0,M11.1.0", "2026-07-01 12:00:00", "2026-07-01 16:00:00+00"},  // a POSIX TZ rule
             {"Asia/Kolkata", "2026-11-23 14:45:00", "2026-11-23 09:15:00+00"},            // UTC+5:30
             {"Australia/Lord_Howe", "2026-10-04 01:59:00", "2026-10-03 15:29:00+00"},     // +10:30, then +11
             {"Australia/Lord_Howe", "2026-10-04 02:30:00", "2026-10-03 15:30:00+00"},
         }) {
        test::ScopedTz scoped(c.tz);
        EXPECT_EQ(target_time(c.text).value, c.value) << c.tz << " " << c.text;
    }
    test::ScopedTz scoped("America/New_York");
    EXPECT_EQ(target_time("2026-11-23 04:15:00.5").time_us, 1795425300500000);
}

TEST(ParseTargetTime, SkippedOrRepeatedLocalTimesNeedAnOffset)
{
    {
        test::ScopedTz scoped("America/New_York");
        Status s = time_error("2026-03-08 02:30:00");
        EXPECT_EQ(s.message(),
            "invalid --target-time \"2026-03-08 02:30:00\": it does not exist in the local time "
            "zone \"America/New_York\" (the clocks skip it)");
        EXPECT_EQ(s.hint(), "Add the UTC offset you mean, \"-05\" or \"-04\".");
        s = time_error("2026-11-01 01:30:00");
        EXPECT_EQ(s.message(),
            "invalid --target-time \"2026-11-01 01:30:00\": it occurs twice in the local time zone "
            "\"America/New_York\" (the clocks repeat it)");
        EXPECT_EQ(s.hint(), "Add the UTC offset you mean, \"-04\" or \"-05\".");
        // With the offset either instant can be had.
        EXPECT_EQ(target_time("2026-11-01 01:30:00-04").value, "2026-11-01 05:30:00+00");
        EXPECT_EQ(target_time("2026-11-01 01:30:00-05").value, "2026-11-01 06:30:00+00");
    }
    {
        test::ScopedTz scoped("Australia/Lord_Howe");  // half-hour daylight saving
        Status s = time_error("2026-10-04 02:15:00");
        EXPECT_EQ(s.message(),
            "invalid --target-time \"2026-10-04 02:15:00\": it does not exist in the local time "
            "zone \"Australia/Lord_Howe\" (the clocks skip it)");
        EXPECT_EQ(s.hint(), "Add the UTC offset you mean, \"+10:30\" or \"+11\".");
        s = time_error("2026-04-05 01:45:00");
        EXPECT_EQ(s.hint(), "Add the UTC offset you mean, \"+11\" or \"+10:30\".");
    }
}

TEST(ParseTargetTime, RejectsOtherForms)
{
    for (const char* text : {
             "",
             "now",
             "2026-11-23",
             "2026-11-23 09:15",
             "2026-11-23  09:15:00",
             " 2026-11-23 09:15:00",
             "2026-11-23 09:15:00 ",
             "2026-11-23 09:15:00 +01",
             "2026-11-23t09:15:00",
             "2026-11-23 09:15:00z",
             "2026-11-23 09:15:00UTC",
             "2026-11-23 09:15:00 Europe/Berlin",
             "2026-11-23 09:15:00.",
             "2026-11-23 09:15:00.1234567",
             "2026-11-23 09:15:00+1",
             "2026-11-23 09:15:00+01:",
             "2026-11-23 09:15:00+01:0",
             "2026-11-23 09:15:00+010",
             "2026-11-23 09:15:00+01:00:00",
             "2026-11-23 09:15:00Z+01",
             "26-11-23 09:15:00",
             "2026/11/23 09:15:00",
             "2026-11-23 9:15:00",
             "20261123T091500Z",
             "2026-11-23 09:15:00,5",
         }) {
        const Status s = time_error(text);
        EXPECT_EQ(s.message(), "invalid --target-time \"" + std::string(text) + "\"");
        EXPECT_EQ(s.hint(), k_time_hint);
    }
}

TEST(ParseTargetTime, RejectsFieldsOutOfRange)
{
    for (const char* text : {
             "2026-02-29 00:00:00Z",
             "2026-04-31 00:00:00Z",
             "2026-13-01 00:00:00Z",
             "2026-00-10 00:00:00Z",
             "2026-11-00 00:00:00Z",
             "2026-11-23 24:00:00Z",
             "2026-11-23 09:60:00Z",
             "2026-11-23 09:15:60Z",
             "2026-11-23 09:15:00+16",
             "2026-11-23 09:15:00-0960",
         }) {
        const Status s = time_error(text);
        EXPECT_EQ(s.message(), "invalid --target-time \"" + std::string(text) + "\": field value out of range");
        EXPECT_EQ(s.hint(), k_time_hint);
    }
    {
        test::ScopedTz scoped("America/New_York");
        EXPECT_EQ(time_error("2026-02-29 00:00:00").message(),
            "invalid --target-time \"2026-02-29 00:00:00\": field value out of range");
    }
    for (const char* text :
        {"1969-12-31 23:59:59Z", "1970-01-01 00:30:00+01", "9999-12-31 23:00:00-01", "0000-01-01 00:00:00Z"}) {
        const Status s = time_error(text);
        EXPECT_EQ(s.message(), "invalid --target-time \"" + std::string(text) + "\": out of range");
        EXPECT_EQ(s.hint(), "Give a time from 1970-01-01 to 9999-12-31 UTC.");
    }
}

TEST(ParseTargetXid, DecimalNormalTransactionIds)
{
    struct Case {
        const char* text;
        uint64_t xid;
        const char* value;
    };
    for (const Case& c : std::vector<Case>{
             {"3", 3, "3"},
             {"1234", 1234, "1234"},
             {"0010", 10, "10"},  // PostgreSQL would read "0010" as octal 8: written without the zeros
             {"4294967295", 4294967295, "4294967295"},
             {"8589935592", 8589935592, "8589935592"},  // epoch 2, xid 1000, as pg_current_xact_id() prints it
             {"18446744073709551615", 18446744073709551615u, "18446744073709551615"},
         }) {
        RecoveryTarget t;
        WV_ASSERT_OK(parse_target_xid(c.text, t));
        EXPECT_EQ(t.kind, RecoveryTarget::Kind::xid);
        EXPECT_EQ(t.xid, c.xid) << c.text;
        EXPECT_EQ(t.value, c.value);
        EXPECT_EQ(t.time_us, 0);
        EXPECT_EQ(t.lsn, 0u);
    }
}

TEST(ParseTargetXid, Rejects)
{
    for (const char* text : {"", "12a", "-5", "+5", " 5", "5 ", "0x10", "1e3", "18446744073709551616"}) {
        RecoveryTarget t;
        const Status s = parse_target_xid(text, t);
        EXPECT_EQ(s.code(), Code::invalid) << text;
        EXPECT_EQ(s.message(), "invalid --target-xid \"" + std::string(text) + "\"");
        EXPECT_EQ(s.hint(), "Give a transaction id as a decimal number, as pg_current_xact_id() reports it.");
        EXPECT_EQ(t.kind, RecoveryTarget::Kind::none);
    }
    for (const char* text : {"0", "1", "2", "000"}) {
        RecoveryTarget t;
        const Status s = parse_target_xid(text, t);
        EXPECT_EQ(s.code(), Code::invalid) << text;
        EXPECT_EQ(s.message(), "--target-xid \"" + std::string(text) + "\" is not a normal transaction id");
        EXPECT_EQ(s.hint(), "Transaction ids 0, 1 and 2 are reserved; give the id of a transaction that committed.");
    }
    RecoveryTarget t;
    const Status s = parse_target_xid("4294967297", t);  // epoch 1, xid 1
    EXPECT_EQ(s.message(), "--target-xid \"4294967297\" is not a normal transaction id");
    EXPECT_EQ(s.hint(),
        "PostgreSQL compares the low 32 bits of the id, 1 here; give the id of a transaction that "
        "committed.");
}

TEST(ParseTargetLsn, AsPgLsnReadsIt)
{
    struct Case {
        const char* text;
        uint64_t lsn;
        const char* value;
    };
    for (const Case& c : std::vector<Case>{
             {"16/B374D848", 0x16B374D848, "16/B374D848"},
             {"16/b374d848", 0x16B374D848, "16/B374D848"},
             {"0/1", 1, "0/1"},
             {"00000000/00000028", 0x28, "0/28"},
             {"FFFFFFFF/FFFFFFFF", 0xFFFFFFFFFFFFFFFF, "FFFFFFFF/FFFFFFFF"},
         }) {
        RecoveryTarget t;
        WV_ASSERT_OK(parse_target_lsn(c.text, t));
        EXPECT_EQ(t.kind, RecoveryTarget::Kind::lsn);
        EXPECT_EQ(t.lsn, c.lsn) << c.text;
        EXPECT_EQ(t.value, c.value);
    }
    for (const char* text :
        {"", "16B374D848", "/1", "1/", "123456789/0", "0/123456789", "G/1", "1/2 ", " 1/2", "1//2", "0x1/2", "-1/2"}) {
        RecoveryTarget t;
        const Status s = parse_target_lsn(text, t);
        EXPECT_EQ(s.code(), Code::invalid) << text;
        EXPECT_EQ(s.message(), "invalid --target-lsn \"" + std::string(text) + "\"");
        EXPECT_EQ(s.hint(),
            "Write the LSN as two hexadecimal numbers of up to 8 digits separated by a slash, for "
            "example \"16/B374D848\".");
        EXPECT_EQ(t.kind, RecoveryTarget::Kind::none);
    }
    RecoveryTarget t;
    const Status s = parse_target_lsn("0/0", t);
    EXPECT_EQ(s.message(), "--target-lsn \"0/0\" is not a valid WAL location");
    EXPECT_EQ(s.hint(), "Give an LSN after the end of the backup, as pg_current_wal_lsn() reports it.");
}

TEST(ParseTargetName, UpTo63Bytes)
{
    for (const std::string& name : {std::string("before upgrade"), std::string("it's a \\ name"), std::string(63, 'n'),
             std::string("\xc3\xa9t\xc3\xa9")}) {
        RecoveryTarget t;
        WV_ASSERT_OK(parse_target_name(name, t));
        EXPECT_EQ(t.kind, RecoveryTarget::Kind::name);
        EXPECT_EQ(t.value, name);
    }
    RecoveryTarget t;
    Status s = parse_target_name(std::string(64, 'n'), t);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "--target-name \"" + std::string(64, 'n') + "\" is too long");
    EXPECT_EQ(s.hint(), "A restore point name has at most 63 bytes.");
    s = parse_target_name("", t);
    EXPECT_EQ(s.message(), "--target-name must not be empty");
    EXPECT_EQ(s.hint(), "Give the name of a restore point, as pg_create_restore_point() was given it.");
    s = parse_target_name(std::string("a\0b", 3), t);
    EXPECT_EQ(s.message(), "--target-name must not contain a zero byte");
    EXPECT_EQ(t.kind, RecoveryTarget::Kind::none);
}

TEST(CheckRecoverySettings, ActionAndTimeline)
{
    RecoverySettings settings;
    WV_EXPECT_OK(check_recovery_settings(settings));
    for (const char* action : {"promote", "pause", "shutdown"}) {
        settings.target_action = action;
        WV_EXPECT_OK(check_recovery_settings(settings));
    }
    for (const char* timeline : {"latest", "current", "1", "2", "4294967295"}) {
        settings.target_timeline = timeline;
        WV_EXPECT_OK(check_recovery_settings(settings));
    }

    settings = RecoverySettings{};
    for (const char* action : {"Promote", "resume", "promote ", "none"}) {
        settings.target_action = action;
        const Status s = check_recovery_settings(settings);
        EXPECT_EQ(s.code(), Code::invalid) << action;
        EXPECT_EQ(s.message(), "invalid --target-action \"" + std::string(action) + "\"");
        EXPECT_EQ(s.hint(), "Valid values are \"promote\", \"pause\" and \"shutdown\".");
    }
    settings = RecoverySettings{};
    for (const char* timeline : {"0", "010", "0x2", "-1", "+2", "2 ", "4294967296", "Latest", "LATEST", "two"}) {
        settings.target_timeline = timeline;
        const Status s = check_recovery_settings(settings);
        EXPECT_EQ(s.code(), Code::invalid) << timeline;
        EXPECT_EQ(s.message(), "invalid --target-timeline \"" + std::string(timeline) + "\"");
        EXPECT_EQ(s.hint(), "Use \"latest\", \"current\" or a timeline id, a decimal number from 1 to 4294967295.");
    }
}

TEST(RenderRecoverySettings, EverySetting)
{
    RecoverySettings settings;
    settings.target = target_time("2026-11-23 10:15:00.5+01");
    settings.target_action = "promote";
    settings.target_timeline = "latest";
    settings.target_exclusive = true;
    settings.restore_command = "/usr/lib/postgresql/15/bin/walvault wal-fetch --repo /var/lib/walvault %f %p";
    settings.archive_off = true;
    EXPECT_EQ(
        render_recovery_settings(settings, "walvault restore of backup \"20261123T101500Z\" at 2026-11-23T10:20:00Z"),
        "# walvault restore of backup \"20261123T101500Z\" at 2026-11-23T10:20:00Z\n"
        "restore_command = '/usr/lib/postgresql/15/bin/walvault wal-fetch --repo /var/lib/walvault %f %p'\n"
        "recovery_target_time = '2026-11-23 09:15:00.5+00'\n"
        "recovery_target_action = 'promote'\n"
        "recovery_target_timeline = 'latest'\n"
        "recovery_target_inclusive = 'off'\n"
        "archive_mode = 'off'\n");
}

TEST(RenderRecoverySettings, OnlyWhatIsSet)
{
    RecoverySettings settings;
    EXPECT_EQ(render_recovery_settings(settings, "nothing"), "# nothing\n");
    EXPECT_EQ(render_recovery_settings(settings, ""), "#\n");
    EXPECT_EQ(render_recovery_settings(settings, "two\nlines\r\n"), "# two lines  \n");

    settings.restore_command = "walvault wal-fetch %f %p";
    EXPECT_EQ(render_recovery_settings(settings, "c"), "# c\nrestore_command = 'walvault wal-fetch %f %p'\n");

    settings = RecoverySettings{};
    settings.target.kind = RecoveryTarget::Kind::immediate;
    EXPECT_EQ(render_recovery_settings(settings, "c"), "# c\nrecovery_target = 'immediate'\n");

    settings = RecoverySettings{};
    WV_ASSERT_OK(parse_target_xid("0010", settings.target));
    settings.target_timeline = "3";
    EXPECT_EQ(
        render_recovery_settings(settings, "c"), "# c\nrecovery_target_xid = '10'\nrecovery_target_timeline = '3'\n");

    settings = RecoverySettings{};
    WV_ASSERT_OK(parse_target_lsn("16/b374d848", settings.target));
    settings.target_action = "shutdown";
    settings.target_exclusive = true;
    EXPECT_EQ(render_recovery_settings(settings, "c"),
        "# c\nrecovery_target_lsn = '16/B374D848'\nrecovery_target_action = 'shutdown'\n"
        "recovery_target_inclusive = 'off'\n");

    settings = RecoverySettings{};
    WV_ASSERT_OK(parse_target_name("it's a \\ name", settings.target));
    settings.target_action = "pause";
    EXPECT_EQ(render_recovery_settings(settings, "c"),
        "# c\nrecovery_target_name = 'it''s a \\\\ name'\nrecovery_target_action = 'pause'\n");
}

TEST(StripRecoverySettings, RemovesRecoveryLinesKeepsTheRest)
{
    const std::string conf = "# Do not edit this file manually!\n"
                             "# It will be overwritten by the ALTER SYSTEM command.\n"
                             "restore_command = 'cp /archive/%f %p'\n"
                             "work_mem = '64MB'\n"
                             "  RECOVERY_TARGET_TIME='2026-01-01 00:00:00+00'  # from the last restore\n"
                             "recovery_target_name 'nightly'\n"
                             "\trecovery_target = 'immediate'\n"
                             "recovery_target_inclusive = off\n"
                             "recovery_target_lsn = '0/3000000'\n"
                             "recovery_target_xid = 1234\n"
                             "recovery_target_action = 'pause'\n"
                             "recovery_target_timeline = 'latest'\n"
                             "recovery_end_command = 'echo done'\r\n"
                             "Archive_Cleanup_Command = 'pg_archivecleanup /archive %r'\n"
                             "primary_conninfo = 'host=primary user=replicator'\n"
                             "primary_slot_name = 'standby1'\n"
                             "# restore_command = 'kept, a comment'\n"
                             "#recovery_target_time = 'kept too'\n"
                             "restore_command_timeout = 'not ours'\n"
                             "recovery_min_apply_delay = '5min'\n"
                             "promote_trigger_file = '/tmp/promote'\n"
                             "walvault.repo = '/var/lib/walvault' # restore_command = 'in a comment'\n"
                             "archive_command = 'restore_command'\n"
                             "\n"
                             "   \n"
                             "shared_buffers = '1GB'\r\n"
                             "primary_conninfo = 'no final newline'";
    int removed = -1;
    EXPECT_EQ(strip_recovery_settings(conf, &removed),
        "# Do not edit this file manually!\n"
        "# It will be overwritten by the ALTER SYSTEM command.\n"
        "work_mem = '64MB'\n"
        "# restore_command = 'kept, a comment'\n"
        "#recovery_target_time = 'kept too'\n"
        "restore_command_timeout = 'not ours'\n"
        "walvault.repo = '/var/lib/walvault' # restore_command = 'in a comment'\n"
        "archive_command = 'restore_command'\n"
        "\n"
        "   \n"
        "shared_buffers = '1GB'\r\n");
    EXPECT_EQ(removed, 16);
}

TEST(StripRecoverySettings, NothingToRemove)
{
    int removed = -1;
    EXPECT_EQ(strip_recovery_settings("", &removed), "");
    EXPECT_EQ(removed, 0);
    const std::string conf = "# Do not edit this file manually!\nwork_mem = '64MB'\nlast line";
    EXPECT_EQ(strip_recovery_settings(conf, &removed), conf);
    EXPECT_EQ(removed, 0);
    EXPECT_EQ(strip_recovery_settings("restore_command = 'x'\nwork_mem = 1\n"), "work_mem = 1\n");  // no counter
}

TEST(StripRecoverySettings, UndoesRender)
{
    RecoverySettings settings;
    WV_ASSERT_OK(parse_target_lsn("16/B374D848", settings.target));
    settings.target_action = "promote";
    settings.target_timeline = "latest";
    settings.target_exclusive = true;
    settings.restore_command = "walvault wal-fetch %f %p";
    const std::string base = "# Do not edit this file manually!\nwork_mem = '64MB'\n";
    int removed = -1;
    EXPECT_EQ(strip_recovery_settings(base + render_recovery_settings(settings, "c"), &removed), base + "# c\n");
    EXPECT_EQ(removed, 5);
}

TEST(PgConfQuote, QuotesAndBackslashesDoubled)
{
    EXPECT_EQ(pg_conf_quote(""), "''");
    EXPECT_EQ(pg_conf_quote("promote"), "'promote'");
    EXPECT_EQ(pg_conf_quote("it's"), "'it''s'");
    EXPECT_EQ(pg_conf_quote("a\\b"), "'a\\\\b'");
    EXPECT_EQ(pg_conf_quote("''\\\\"), "'''''\\\\\\\\'");
    EXPECT_EQ(pg_conf_quote("'/opt/x y/walvault' wal-fetch %f %p"), "'''/opt/x y/walvault'' wal-fetch %f %p'");
    EXPECT_EQ(pg_conf_quote("tab\there # not a comment"), "'tab\there # not a comment'");
    // A line break cannot stand in a quoted value: PostgreSQL's escapes for it.
    EXPECT_EQ(pg_conf_quote("two\nlines\r"), "'two\\nlines\\r'");
}

TEST(ShellQuote, PosixWords)
{
    EXPECT_EQ(shell_quote("/usr/lib/postgresql/15/bin/walvault"), "/usr/lib/postgresql/15/bin/walvault");
    EXPECT_EQ(shell_quote("%f"), "%f");
    EXPECT_EQ(shell_quote("s3://bkp/prod,a=b+c@d:e_f-g"), "s3://bkp/prod,a=b+c@d:e_f-g");
    EXPECT_EQ(shell_quote(""), "''");
    EXPECT_EQ(shell_quote("/opt/wal vault/walvault"), "'/opt/wal vault/walvault'");
    EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
    EXPECT_EQ(shell_quote("'"), "''\\'''");
    EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
    EXPECT_EQ(shell_quote("a\\b"), "'a\\b'");
    EXPECT_EQ(shell_quote("`id`;*?~!&|<>(){}[]#\"\t\n"), "'`id`;*?~!&|<>(){}[]#\"\t\n'");
}

TEST(ShellQuote, TheShellReadsTheWordBack)
{
    for (const std::string word : {"/opt/wal vault/bin/walvault", "it's", "a\\b c", "$HOME `id` \"q\"", "'", ""}) {
        const std::string command = "printf '%s' " + shell_quote(word);
        FILE* p = ::popen(command.c_str(), "r");
        ASSERT_NE(p, nullptr);
        std::string out;
        char buf[256];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
            out.append(buf, n);
        EXPECT_EQ(::pclose(p), 0);
        EXPECT_EQ(out, word);
    }
}

// ---- PostgreSQL 15 reads what render_recovery_settings writes ------------------------------------------------

constexpr const char* k_pg_bin = "/usr/lib/postgresql/15/bin";

struct CommandResult {
    int exit_code = -1;
    std::string out;
};

// Runs a shell command and collects its standard output; stderr goes to the test's stderr.
CommandResult run_command(const std::string& command)
{
    CommandResult result;
    FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr)
        return result;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
        result.out.append(buf, n);
    const int status = ::pclose(p);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// A data directory made by initdb, and PostgreSQL's programs run on it. PostgreSQL refuses to run as root:
// then they run as the postgres user, in a temporary directory it owns.
class PgCluster {
public:
    PgCluster()
    {
        if (::geteuid() == 0) {
            const passwd* pw = ::getpwnam("postgres");
            if (pw == nullptr) {
                m_error = "running as root, and there is no \"postgres\" user to run PostgreSQL as";
                return;
            }
            if (::chown(m_dir.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
                m_error = "could not change the owner of \"" + m_dir.path() + "\"";
                return;
            }
            m_as_user = "runuser -u postgres -- ";
        }
        const CommandResult init = run("initdb", "-D " + m_data + " -N -A trust --no-instructions");
        if (init.exit_code != 0)
            m_error = "initdb failed: " + init.out;
    }

    // Empty when the cluster is ready.
    const std::string& error() const { return m_error; }
    const std::string& data_dir() const { return m_data; }
    std::string auto_conf() const { return m_data + "/postgresql.auto.conf"; }
    std::string path(const std::string& rel) const { return m_dir / rel; }

    CommandResult run(const std::string& program, const std::string& args) const
    {
        return run_command("cd /tmp && " + m_as_user + k_pg_bin + "/" + program + " " + args);
    }

    // `postgres -C name`: the value as the server reads it from the configuration, without starting; nullopt
    // when the server rejects the configuration (why goes to stderr, unless quiet).
    std::optional<std::string> show(const std::string& name, bool quiet = false) const
    {
        CommandResult r = run("postgres", "-D " + m_data + " -C " + name + (quiet ? " 2>/dev/null" : ""));
        if (r.exit_code != 0 || r.out.empty() || r.out.back() != '\n')
            return std::nullopt;
        r.out.pop_back();
        return r.out;
    }

private:
    TempDir m_dir;
    std::string m_data = m_dir / "data";
    std::string m_as_user;
    std::string m_error;
};

std::string read_text(const std::string& path)
{
    return test::to_string(test::read_file(path));
}

// Replaces postgresql.auto.conf, keeping its owner (the postgres user).
void write_auto_conf(const PgCluster& cluster, const std::string& text)
{
    const std::string path = cluster.auto_conf();
    struct stat st { };
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    test::write_file(path, text);
    ASSERT_EQ(::chown(path.c_str(), st.st_uid, st.st_gid), 0);
}

// One cluster for the suite: initdb takes about two seconds.
class RecoverySettingsInPostgres : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        m_cluster = std::make_unique<PgCluster>();
        if (m_cluster->error().empty())
            m_initdb_conf = read_text(m_cluster->auto_conf());
    }
    static void TearDownTestSuite() { m_cluster.reset(); }
    void SetUp() override { ASSERT_EQ(m_cluster->error(), ""); }

    inline static std::unique_ptr<PgCluster> m_cluster;
    inline static std::string m_initdb_conf;  // postgresql.auto.conf as initdb wrote it
};

TEST_F(RecoverySettingsInPostgres, PostgresReadsBackEveryTargetKind)
{
    const PgCluster& cluster = *m_cluster;
    const std::string auto_conf = cluster.auto_conf();
    ASSERT_EQ(m_initdb_conf.rfind("# Do not edit this file manually!\n", 0), 0u) << m_initdb_conf;

    // A walvault binary in a directory with a space, a repository with a quote and a backslash.
    const std::string restore_command =
        shell_quote("/opt/wal vault/bin/walvault") + " wal-fetch --repo " + shell_quote("/srv/o'brien\\wal") + " %f %p";
    ASSERT_EQ(restore_command, "'/opt/wal vault/bin/walvault' wal-fetch --repo '/srv/o'\\''brien\\wal' %f %p");

    struct Case {
        std::string label;
        RecoverySettings settings;
        std::map<std::string, std::string> expected;  // as `postgres -C` prints them (about 0.3 s each)
    };
    std::vector<Case> cases;
    {
        Case c{"time", {}, {}};
        c.settings.target = target_time("2026-11-23 10:15:00.5+01");
        c.settings.target_action = "promote";
        c.settings.target_timeline = "latest";
        c.settings.target_exclusive = true;
        c.settings.restore_command = restore_command;
        c.expected = {{"restore_command", restore_command}, {"recovery_target_time", "2026-11-23 09:15:00.5+00"},
            {"recovery_target_action", "promote"}, {"recovery_target_timeline", "latest"},
            {"recovery_target_inclusive", "off"}};
        cases.push_back(c);
    }
    {
        Case c{"xid", {}, {}};
        WV_ASSERT_OK(parse_target_xid("8589935592", c.settings.target));
        c.settings.target_action = "pause";
        c.settings.target_timeline = "current";
        c.settings.restore_command = restore_command;
        c.expected = {{"restore_command", restore_command}, {"recovery_target_xid", "8589935592"},
            {"recovery_target_action", "pause"}, {"recovery_target_timeline", "current"}};
        cases.push_back(c);
    }
    {
        Case c{"lsn", {}, {}};
        WV_ASSERT_OK(parse_target_lsn("16/b374d848", c.settings.target));
        c.settings.target_action = "shutdown";
        c.settings.target_timeline = "2";
        c.settings.target_exclusive = true;
        c.settings.restore_command = restore_command;
        c.expected = {{"restore_command", restore_command}, {"recovery_target_lsn", "16/B374D848"},
            {"recovery_target_action", "shutdown"}, {"recovery_target_timeline", "2"},
            {"recovery_target_inclusive", "off"}};
        cases.push_back(c);
    }
    {
        Case c{"name", {}, {}};
        WV_ASSERT_OK(parse_target_name("it's a \\ name\nwith a line break", c.settings.target));
        c.settings.restore_command = restore_command;
        // Settings not written read as their defaults; the previous cases' targets are gone.
        c.expected = {{"restore_command", restore_command},
            {"recovery_target_name", "it's a \\ name\nwith a line break"}, {"recovery_target_action", "pause"},
            {"recovery_target_inclusive", "on"}, {"recovery_target_time", ""}, {"recovery_target_xid", ""},
            {"recovery_target_lsn", ""}};
        cases.push_back(c);
    }
    {
        Case c{"immediate", {}, {}};
        c.settings.target.kind = RecoveryTarget::Kind::immediate;
        c.settings.target_action = "promote";
        c.settings.restore_command = restore_command;
        c.expected = {{"restore_command", restore_command}, {"recovery_target", "immediate"},
            {"recovery_target_action", "promote"}};
        cases.push_back(c);
    }
    {
        Case c{"none", {}, {}};
        c.settings.restore_command = "walvault wal-fetch %f %p";
        c.expected = {{"restore_command", "walvault wal-fetch %f %p"}, {"recovery_target", ""},
            {"recovery_target_name", ""}, {"recovery_target_timeline", "latest"}};
        cases.push_back(c);
    }

    int lines_before = 0;  // setting lines the previous case wrote, which strip must remove
    for (const Case& c : cases) {
        SCOPED_TRACE(c.label);
        WV_ASSERT_OK(check_recovery_settings(c.settings));
        int removed = -1;
        const std::string kept = strip_recovery_settings(read_text(auto_conf), &removed);
        EXPECT_EQ(removed, lines_before);
        const std::string rendered = render_recovery_settings(c.settings, "walvault restore test: " + c.label);
        write_auto_conf(cluster, kept + rendered);
        lines_before = 0;
        for (char ch : rendered)
            lines_before += ch == '\n';
        lines_before -= 1;  // the comment line stays

        for (const auto& [name, value] : c.expected)
            EXPECT_EQ(cluster.show(name), std::optional<std::string>(value)) << name << " from\n" << rendered;
    }
    // initdb's lines and each run's comment line are still there, in order.
    const std::string final_conf = read_text(auto_conf);
    EXPECT_EQ(final_conf.rfind(m_initdb_conf, 0), 0u) << final_conf;
    EXPECT_NE(final_conf.find("# walvault restore test: time\n# walvault restore test: xid\n"), std::string::npos)
        << final_conf;
}

// The check above can fail: a value PostgreSQL rejects, or two targets at once, make `postgres -C` fail.
TEST_F(RecoverySettingsInPostgres, RejectedSettingsAreNoticed)
{
    const PgCluster& cluster = *m_cluster;
    const std::string before = read_text(cluster.auto_conf());
    write_auto_conf(cluster, before + "recovery_target_time = '2026-11-23 25:00:00+00'\n");
    EXPECT_EQ(cluster.show("recovery_target_time", true), std::nullopt);
    RecoverySettings settings;
    WV_ASSERT_OK(parse_target_lsn("16/B374D848", settings.target));
    write_auto_conf(cluster, before + "recovery_target_name = 'nightly'\n" + render_recovery_settings(settings, "c"));
    EXPECT_EQ(cluster.show("recovery_target_lsn", true), std::nullopt);
    write_auto_conf(cluster, before);
    EXPECT_EQ(cluster.show("recovery_target_lsn"), std::optional<std::string>(""));
}

// The server reads the written time as the same instant whatever its own TimeZone: a local --target-time
// given in New York, read by a server set to Tokyo (single-user mode, which reads the configuration and
// answers one query).
TEST_F(RecoverySettingsInPostgres, ServerReadsTheSameInstant)
{
    const PgCluster& cluster = *m_cluster;
    const std::string auto_conf = cluster.auto_conf();

    for (const char* local : {"2026-07-01 12:00:00.25", "2026-11-23 04:15:00"}) {
        SCOPED_TRACE(local);
        RecoverySettings settings;
        {
            test::ScopedTz scoped("America/New_York");
            settings.target = target_time(local);
        }
        write_auto_conf(cluster, read_text(auto_conf) + render_recovery_settings(settings, "instant"));
        const std::string sql = cluster.path("query.sql");
        test::write_file(sql,
            "SELECT (extract(epoch FROM current_setting('recovery_target_time')::timestamptz) * "
            "1000000)::bigint AS us\n");
        ASSERT_EQ(::chmod(sql.c_str(), 0644), 0);
        const CommandResult r = cluster.run("postgres",
            "--single -D " + cluster.data_dir() + " -c TimeZone=Asia/Tokyo -c log_min_messages=fatal postgres < " +
                sql);
        ASSERT_EQ(r.exit_code, 0) << r.out;
        EXPECT_NE(r.out.find("us = \"" + std::to_string(settings.target.time_us) + "\""), std::string::npos) << r.out;
        write_auto_conf(cluster, strip_recovery_settings(read_text(auto_conf)));
    }
}

}  // namespace
}  // namespace walvault
