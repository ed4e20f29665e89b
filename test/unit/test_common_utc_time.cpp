// Unit tests for core/common/utc_time: the repository's ISO 8601 UTC times, written and read back, with
// invalid dates and other forms rejected and the process's time zone making no difference.
#include "core/common/utc_time.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

namespace walvault {
namespace {

int64_t parsed(std::string_view text)
{
    int64_t seconds = -42;
    const Status s = parse_utc_time(text, seconds);
    EXPECT_TRUE(s.is_ok()) << text << ": " << s.message();
    return seconds;
}

TEST(UtcTime, Format)
{
    EXPECT_EQ(format_utc_time(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_utc_time(1795428900), "2026-11-23T10:15:00Z");
    EXPECT_EQ(format_utc_time(1709251199), "2024-02-29T23:59:59Z");
    EXPECT_EQ(format_utc_time(946684800), "2000-01-01T00:00:00Z");
    EXPECT_EQ(format_utc_time(253402300799), "9999-12-31T23:59:59Z");
    EXPECT_EQ(format_utc_time(-1), "1969-12-31T23:59:59Z");
}

TEST(UtcTime, Parse)
{
    EXPECT_EQ(parsed("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parsed("2026-11-23T10:15:00Z"), 1795428900);
    EXPECT_EQ(parsed("2024-02-29T23:59:59Z"), 1709251199);
    EXPECT_EQ(parsed("9999-12-31T23:59:59Z"), 253402300799);
    EXPECT_EQ(parsed("1969-12-31T23:59:59Z"), -1);
}

TEST(UtcTime, FractionalSecondsAreDropped)
{
    EXPECT_EQ(parsed("2026-11-23T10:15:00.5Z"), 1795428900);
    EXPECT_EQ(parsed("2026-11-23T10:15:00.999999999Z"), 1795428900);
    EXPECT_EQ(parsed("2026-11-23T10:15:00.000Z"), 1795428900);
}

TEST(UtcTime, RoundTrip)
{
    for (int64_t t : {int64_t{0}, int64_t{1}, int64_t{951782400}, int64_t{1795428900}, int64_t{4102444799}}) {
        int64_t back = -42;
        WV_ASSERT_OK(parse_utc_time(format_utc_time(t), back));
        EXPECT_EQ(back, t) << format_utc_time(t);
    }
}

TEST(UtcTime, RejectsOtherForms)
{
    for (const char* text : {
             "",
             "2026-11-23T10:15:00",        // no zone
             "2026-11-23 10:15:00Z",       // space instead of T
             "2026-11-23T10:15:00+00:00",  // offset instead of Z
             "2026-11-23T10:15:00z",       // lower-case z
             "2026-11-23T10:15Z",          // no seconds
             "2026-11-23T10:15:00.Z",      // no fraction digits
             "2026-11-23T10:15:00Z ",      // trailing blank
             " 2026-11-23T10:15:00Z",      // leading blank
             "26-11-23T10:15:00Z",         // two-digit year
             "2026-1-23T10:15:00Z",        // one-digit month
             "2026-11-23T10:15:0xZ",       // not a digit
             "20261123T101500Z",           // basic format (backup labels), not this one
             "2026-02-29T00:00:00Z",       // 2026 is no leap year
             "2026-04-31T00:00:00Z",       // April has 30 days
             "2026-13-01T00:00:00Z",       // month 13
             "2026-00-01T00:00:00Z",       // month 0
             "2026-11-00T00:00:00Z",       // day 0
             "2026-11-23T24:00:00Z",       // hour 24
             "2026-11-23T10:60:00Z",       // minute 60
             "2026-11-23T10:15:60Z",       // leap second
         }) {
        int64_t seconds = -42;
        const Status s = parse_utc_time(text, seconds);
        EXPECT_EQ(s.code(), Code::invalid) << text;
        EXPECT_EQ(s.message(), "invalid UTC time \"" + std::string(text) + "\"");
        EXPECT_EQ(s.hint(), "Use the form \"2026-11-23T10:15:00Z\", optionally with fractional seconds.");
        EXPECT_EQ(seconds, -42) << text;
    }
}

TEST(UtcTime, LocalTimeZoneMakesNoDifference)
{
    for (const char* tz : {"America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "UTC"}) {
        test::ScopedTz scoped(tz);
        EXPECT_EQ(format_utc_time(1795428900), "2026-11-23T10:15:00Z") << tz;
        EXPECT_EQ(parsed("2026-11-23T10:15:00Z"), 1795428900) << tz;
        // A time inside New York's skipped hour exists in UTC.
        EXPECT_EQ(parsed("2026-03-08T02:30:00Z"), 1772937000) << tz;
    }
}

}  // namespace
}  // namespace walvault
