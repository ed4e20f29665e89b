// UTC times as the repository records them; see utc_time.h. Built on timegm/gmtime_r and digit-by-digit
// parsing, so neither the process's locale nor its time zone can change what is written or read.
#include "core/common/utc_time.h"

#include "core/common/text.h"

#include <cstdio>
#include <ctime>

namespace walvault {
namespace {

constexpr std::string_view k_utc_time_form = "2026-11-23T10:15:00Z";

}  // namespace

std::string format_utc_time(int64_t unix_seconds)
{
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    // gmtime_r fails only when the year does not fit in an int, far outside any time a repository records.
    if (gmtime_r(&t, &tm) == nullptr)
        return {};
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
        tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

Status parse_utc_time(std::string_view text, int64_t& unix_seconds)
{
    std::tm tm{};
    int year = 0;
    int month = 0;
    size_t pos = 0;
    bool ok = read_digits(text, pos, 4, year) && read_char(text, pos, '-') && read_digits(text, pos, 2, month) &&
        read_char(text, pos, '-') && read_digits(text, pos, 2, tm.tm_mday) && read_char(text, pos, 'T') &&
        read_digits(text, pos, 2, tm.tm_hour) && read_char(text, pos, ':') && read_digits(text, pos, 2, tm.tm_min) &&
        read_char(text, pos, ':') && read_digits(text, pos, 2, tm.tm_sec);
    if (ok && pos < text.size() && text[pos] == '.') {
        // Fractional seconds: at least one digit, any number of them, dropped.
        const size_t first = ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
            ++pos;
        ok = pos > first;
    }
    ok = ok && read_char(text, pos, 'Z') && pos == text.size();
    if (ok) {
        tm.tm_year = year - 1900;
        tm.tm_mon = month - 1;
        // timegm normalizes out-of-range fields (February 30 becomes March 2): a date is valid only if it
        // comes back unchanged.
        const std::tm given = tm;
        const std::time_t t = timegm(&tm);
        ok = given.tm_mon >= 0 && given.tm_mon < 12 && given.tm_year == tm.tm_year && given.tm_mon == tm.tm_mon &&
            given.tm_mday == tm.tm_mday && given.tm_hour == tm.tm_hour && given.tm_min == tm.tm_min &&
            given.tm_sec == tm.tm_sec;
        if (ok) {
            unix_seconds = static_cast<int64_t>(t);
            return Status::ok();
        }
    }
    return Status::error(Code::invalid, "invalid UTC time \"" + std::string(text) + "\"",
        "Use the form \"" + std::string(k_utc_time_form) + "\", optionally with fractional seconds.");
}

}  // namespace walvault
