// Recovery settings for a restored data directory; see recovery.h. Every value is checked here the way
// PostgreSQL 15 checks it (check_recovery_target_* in guc.c), and written in a form that leaves it no room
// to read it differently: times with an explicit UTC offset, numbers in plain decimal.
#include "core/config/recovery.h"

#include "core/common/text.h"
#include "core/wal/wal_name.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace walvault {
namespace {

constexpr std::string_view k_time_hint =
    "Write the time as \"YYYY-MM-DD HH:MM:SS[.ffffff][Z|+HH|+HH:MM|+HHMM|-HH|-HH:MM|-HHMM]\", for example "
    "\"2026-11-23 10:15:00+01\"; without an offset it is read in the local time zone.";
constexpr int k_max_fraction_digits = 6;            // microseconds, PostgreSQL's timestamp resolution
constexpr int k_max_utc_offset_hours = 15;          // MAX_TZDISP_HOUR in PostgreSQL's datetime.h
constexpr int k_min_target_year = 1970;             // no WAL predates the Unix epoch
constexpr int k_max_target_year = 9999;             // four-digit years in the value we write
constexpr uint64_t k_first_normal_xid = 3;          // FirstNormalTransactionId in access/transam.h
constexpr size_t k_max_target_name_bytes = 63;      // NAMEDATALEN - 1 (MAXFNAMELEN - 1 in check_recovery_target_name)
constexpr uint64_t k_max_timeline_id = 0xFFFFFFFF;  // TimeLineID is 32 bits
constexpr int64_t k_us_per_second = 1000000;
// Local times are resolved by probing the zone's UTC offset every half hour over a window wider than any
// offset (UTC-12 to UTC+14): every offset in effect near the wall-clock time is seen.
constexpr int64_t k_offset_probe_step_seconds = int64_t{30} * 60;
constexpr int64_t k_offset_probe_window_seconds = int64_t{27} * 3600;

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

struct TimeText {
    std::tm wall{};      // year .. second as written; tm_isdst unused
    int64_t micros = 0;  // fraction of the second
    bool has_offset = false;
    int offset_seconds = 0;  // east of UTC
    bool fields_valid = true;
};

// The grammar of --target-time, nothing more: false if text does not have the form.
bool scan_target_time(std::string_view text, TimeText& out)
{
    int year = 0;
    int month = 0;
    size_t pos = 0;
    std::tm& tm = out.wall;
    if (!(read_digits(text, pos, 4, year) && read_char(text, pos, '-') && read_digits(text, pos, 2, month) &&
            read_char(text, pos, '-') && read_digits(text, pos, 2, tm.tm_mday)))
        return false;
    if (!(read_char(text, pos, ' ') || read_char(text, pos, 'T')))
        return false;
    if (!(read_digits(text, pos, 2, tm.tm_hour) && read_char(text, pos, ':') && read_digits(text, pos, 2, tm.tm_min) &&
            read_char(text, pos, ':') && read_digits(text, pos, 2, tm.tm_sec)))
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    if (read_char(text, pos, '.')) {
        int digits = 0;
        while (pos < text.size() && is_digit(text[pos])) {
            if (++digits > k_max_fraction_digits)
                return false;
            out.micros = out.micros * 10 + (text[pos++] - '0');
        }
        if (digits == 0)
            return false;
        for (; digits < k_max_fraction_digits; ++digits)
            out.micros *= 10;
    }
    if (pos == text.size())
        return true;
    if (read_char(text, pos, 'Z')) {
        out.has_offset = true;
        return pos == text.size();
    }
    const char sign = text[pos];
    if (sign != '+' && sign != '-')
        return false;
    ++pos;
    int hours = 0;
    int minutes = 0;
    if (!read_digits(text, pos, 2, hours))
        return false;
    if (pos < text.size()) {
        read_char(text, pos, ':');  // +HH:MM or +HHMM
        if (!read_digits(text, pos, 2, minutes) || pos != text.size())
            return false;
    }
    out.has_offset = true;
    out.fields_valid = hours <= k_max_utc_offset_hours && minutes < 60;
    out.offset_seconds = (sign == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
    return true;
}

bool same_wall_time(const std::tm& a, const std::tm& b)
{
    return a.tm_year == b.tm_year && a.tm_mon == b.tm_mon && a.tm_mday == b.tm_mday && a.tm_hour == b.tm_hour &&
        a.tm_min == b.tm_min && a.tm_sec == b.tm_sec;
}

// "+01", "-05", "+05:30"
std::string format_offset(long offset_seconds)
{
    const char sign = offset_seconds < 0 ? '-' : '+';
    const long magnitude = offset_seconds < 0 ? -offset_seconds : offset_seconds;
    char buf[48];
    if (magnitude % 3600 == 0)
        std::snprintf(buf, sizeof(buf), "%c%02ld", sign, magnitude / 3600);
    else
        std::snprintf(buf, sizeof(buf), "%c%02ld:%02ld", sign, magnitude / 3600, magnitude % 3600 / 60);
    return buf;
}

std::string local_zone_description()
{
    const char* tz = std::getenv("TZ");
    if (tz == nullptr || *tz == '\0')
        return "the local time zone";
    return "the local time zone \"" + std::string(tz) + "\"";
}

std::string offsets_hint(const std::vector<long>& offsets)
{
    std::string list;
    for (size_t i = 0; i < offsets.size(); ++i)
        list += (i == 0 ? "" : i + 1 == offsets.size() ? " or " : ", ") + ("\"" + format_offset(offsets[i]) + "\"");
    return list;
}

// Every instant whose local wall-clock time is `wall`: none in a gap the clocks skip, two where they repeat an
// hour. `offsets` receives the zone's UTC offsets around that time, in the order they were in effect.
std::vector<std::time_t> local_instants(const std::tm& wall, std::vector<long>& offsets)
{
    std::tm copy = wall;
    const std::time_t as_utc = timegm(&copy);
    for (int64_t d = -k_offset_probe_window_seconds; d <= k_offset_probe_window_seconds;
         d += k_offset_probe_step_seconds) {
        const std::time_t probe = as_utc + static_cast<std::time_t>(d);
        std::tm local{};
        if (localtime_r(&probe, &local) != nullptr &&
            std::find(offsets.begin(), offsets.end(), local.tm_gmtoff) == offsets.end())
            offsets.push_back(local.tm_gmtoff);
    }
    std::vector<std::time_t> instants;
    for (long offset : offsets) {
        const std::time_t t = as_utc - static_cast<std::time_t>(offset);
        std::tm local{};
        if (localtime_r(&t, &local) != nullptr && same_wall_time(local, wall) &&
            std::find(instants.begin(), instants.end(), t) == instants.end())
            instants.push_back(t);
    }
    std::sort(instants.begin(), instants.end());
    return instants;
}

Status time_error(std::string_view text, const std::string& what, std::string hint = std::string(k_time_hint))
{
    return Status::error(Code::invalid, "invalid --target-time \"" + std::string(text) + "\"" + what, std::move(hint));
}

// True if name (already lower case) is one of the settings strip_recovery_settings removes.
bool is_recovery_setting(std::string_view name)
{
    static constexpr std::array<std::string_view, 7> k_names = {
        "restore_command",
        "recovery_min_apply_delay",
        "promote_trigger_file",
        "recovery_end_command",
        "archive_cleanup_command",
        "primary_conninfo",
        "primary_slot_name",
    };
    if (name == "recovery_target" || name.rfind("recovery_target_", 0) == 0)
        return true;
    return std::find(k_names.begin(), k_names.end(), name) != k_names.end();
}

// Characters of a setting name in postgresql.conf (guc-file.l: letters, digits, '_', bytes >= 0x80, and the
// '.' of a qualified name).
bool is_name_char(char c)
{
    const unsigned char u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' || u >= 0x80;
}

void add_setting(std::string& out, std::string_view name, std::string_view value)
{
    out.append(name);
    out += " = ";
    out += pg_conf_quote(value);
    out += '\n';
}

}  // namespace

Status parse_target_time(std::string_view text, RecoveryTarget& out)
{
    TimeText parsed;
    if (!scan_target_time(text, parsed))
        return time_error(text, "");
    // timegm normalizes out-of-range fields (February 30 becomes March 2): valid fields come back unchanged.
    std::tm normalized = parsed.wall;
    const std::time_t wall_as_utc = timegm(&normalized);
    if (!parsed.fields_valid || parsed.wall.tm_mon < 0 || parsed.wall.tm_mon > 11 ||
        !same_wall_time(normalized, parsed.wall))
        return time_error(text, ": field value out of range");

    std::time_t seconds = 0;
    if (parsed.has_offset) {
        seconds = wall_as_utc - static_cast<std::time_t>(parsed.offset_seconds);
    } else {
        tzset();  // localtime_r need not notice a changed TZ by itself
        std::vector<long> offsets;
        const std::vector<std::time_t> instants = local_instants(parsed.wall, offsets);
        if (instants.empty())
            return time_error(text, ": it does not exist in " + local_zone_description() + " (the clocks skip it)",
                "Add the UTC offset you mean, " + offsets_hint(offsets) + ".");
        if (instants.size() > 1) {
            std::vector<long> candidates;
            for (std::time_t t : instants) {
                std::tm local{};
                localtime_r(&t, &local);
                candidates.push_back(local.tm_gmtoff);
            }
            return time_error(text, ": it occurs twice in " + local_zone_description() + " (the clocks repeat it)",
                "Add the UTC offset you mean, " + offsets_hint(candidates) + ".");
        }
        seconds = instants.front();
    }

    std::tm utc{};
    if (gmtime_r(&seconds, &utc) == nullptr || utc.tm_year + 1900 < k_min_target_year ||
        utc.tm_year + 1900 > k_max_target_year)
        return time_error(text, ": out of range", "Give a time from 1970-01-01 to 9999-12-31 UTC.");

    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
        utc.tm_hour, utc.tm_min, utc.tm_sec);
    std::string value = buf;
    if (parsed.micros != 0) {
        std::snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(parsed.micros));
        std::string fraction = buf;
        fraction.erase(fraction.find_last_not_of('0') + 1);
        value += fraction;
    }
    value += "+00";

    out = RecoveryTarget{};
    out.kind = RecoveryTarget::Kind::time;
    out.value = std::move(value);
    out.time_us = static_cast<int64_t>(seconds) * k_us_per_second + parsed.micros;
    return Status::ok();
}

Status parse_target_xid(std::string_view text, RecoveryTarget& out)
{
    // Decimal only: PostgreSQL reads the value with strtou64(..., 0), which would take "010" as octal, so
    // the value written is re-formatted without leading zeros.
    uint64_t xid = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), xid);
    if (text.empty() || !is_digit(text.front()) || ec != std::errc() || end != text.data() + text.size())
        return Status::error(Code::invalid, "invalid --target-xid \"" + std::string(text) + "\"",
            "Give a transaction id as a decimal number, as pg_current_xact_id() reports it.");
    // PostgreSQL compares the low 32 bits with the transaction ids in the WAL (TransactionId is 32 bits); an
    // epoch in the high bits, as pg_current_xact_id() prints, is dropped.
    const uint64_t xid32 = xid & 0xFFFFFFFF;
    if (xid32 < k_first_normal_xid)
        return Status::error(Code::invalid, "--target-xid \"" + std::string(text) + "\" is not a normal transaction id",
            xid == xid32 ? "Transaction ids 0, 1 and 2 are reserved; give the id of a transaction that committed."
                         : "PostgreSQL compares the low 32 bits of the id, " + std::to_string(xid32) +
                    " here; give the id of a transaction that committed.");
    out = RecoveryTarget{};
    out.kind = RecoveryTarget::Kind::xid;
    out.xid = xid;
    out.value = std::to_string(xid);
    return Status::ok();
}

Status parse_target_lsn(std::string_view text, RecoveryTarget& out)
{
    const std::optional<uint64_t> lsn = parse_lsn(text);
    if (!lsn)
        return Status::error(Code::invalid, "invalid --target-lsn \"" + std::string(text) + "\"",
            "Write the LSN as two hexadecimal numbers of up to 8 digits separated by a slash, for example "
            "\"16/B374D848\".");
    if (*lsn == 0)  // InvalidXLogRecPtr: recovery would stop before the first record
        return Status::error(Code::invalid, "--target-lsn \"" + std::string(text) + "\" is not a valid WAL location",
            "Give an LSN after the end of the backup, as pg_current_wal_lsn() reports it.");
    out = RecoveryTarget{};
    out.kind = RecoveryTarget::Kind::lsn;
    out.lsn = *lsn;
    out.value = format_lsn(*lsn);
    return Status::ok();
}

Status parse_target_name(std::string_view text, RecoveryTarget& out)
{
    const std::string hint = "Give the name of a restore point, as pg_create_restore_point() was given it.";
    if (text.empty())
        return Status::error(Code::invalid, "--target-name must not be empty", hint);
    if (text.size() > k_max_target_name_bytes)
        return Status::error(Code::invalid, "--target-name \"" + std::string(text) + "\" is too long",
            "A restore point name has at most 63 bytes.");
    if (text.find('\0') != std::string_view::npos)
        return Status::error(Code::invalid, "--target-name must not contain a zero byte", hint);
    out = RecoveryTarget{};
    out.kind = RecoveryTarget::Kind::name;
    out.value = std::string(text);
    return Status::ok();
}

Status check_recovery_settings(const RecoverySettings& settings)
{
    const std::string& action = settings.target_action;
    if (!action.empty() && action != "promote" && action != "pause" && action != "shutdown")
        return Status::error(Code::invalid, "invalid --target-action \"" + action + "\"",
            "Valid values are \"promote\", \"pause\" and \"shutdown\".");

    // PostgreSQL reads a numeric timeline with strtoul(..., 0), so "010" would be timeline 8: decimal
    // without leading zeros only.
    const std::string& timeline = settings.target_timeline;
    if (!timeline.empty() && timeline != "latest" && timeline != "current") {
        uint64_t id = 0;
        const auto [end, ec] = std::from_chars(timeline.data(), timeline.data() + timeline.size(), id);
        if (!is_digit(timeline.front()) || timeline.front() == '0' || ec != std::errc() ||
            end != timeline.data() + timeline.size() || id > k_max_timeline_id)
            return Status::error(Code::invalid, "invalid --target-timeline \"" + timeline + "\"",
                "Use \"latest\", \"current\" or a timeline id, a decimal number from 1 to 4294967295.");
    }
    return Status::ok();
}

std::string render_recovery_settings(const RecoverySettings& settings, const std::string& comment)
{
    std::string line = comment;
    std::replace(line.begin(), line.end(), '\n', ' ');  // a line break would end the comment
    std::replace(line.begin(), line.end(), '\r', ' ');
    std::string out = line.empty() ? "#\n" : "# " + line + "\n";
    if (!settings.restore_command.empty())
        add_setting(out, "restore_command", settings.restore_command);
    const RecoveryTarget& target = settings.target;
    switch (target.kind) {
    case RecoveryTarget::Kind::none:
        break;
    case RecoveryTarget::Kind::time:
        add_setting(out, "recovery_target_time", target.value);
        break;
    case RecoveryTarget::Kind::xid:
        add_setting(out, "recovery_target_xid", target.value);
        break;
    case RecoveryTarget::Kind::lsn:
        add_setting(out, "recovery_target_lsn", target.value);
        break;
    case RecoveryTarget::Kind::name:
        add_setting(out, "recovery_target_name", target.value);
        break;
    case RecoveryTarget::Kind::immediate:
        add_setting(out, "recovery_target", "immediate");
        break;
    }
    if (!settings.target_action.empty())
        add_setting(out, "recovery_target_action", settings.target_action);
    if (!settings.target_timeline.empty())
        add_setting(out, "recovery_target_timeline", settings.target_timeline);
    if (settings.target_exclusive)
        add_setting(out, "recovery_target_inclusive", "off");
    if (settings.archive_off)
        add_setting(out, "archive_mode", "off");
    return out;
}

std::string strip_recovery_settings(std::string_view auto_conf, int* removed)
{
    // One setting per line (guc-file.l ends each at the line end and quoted values cannot span lines):
    // a line is a setting line when its first word, after blanks, is a setting name.
    std::string out;
    out.reserve(auto_conf.size());
    int count = 0;
    size_t start = 0;
    while (start < auto_conf.size()) {
        const size_t newline = auto_conf.find('\n', start);
        const size_t end = newline == std::string_view::npos ? auto_conf.size() : newline + 1;
        const std::string_view line = auto_conf.substr(start, end - start);
        start = end;

        size_t pos = line.find_first_not_of(" \t\r\f\v");
        size_t name_end = pos;
        while (name_end < line.size() && is_name_char(line[name_end]))
            ++name_end;
        if (pos != std::string_view::npos && name_end > pos &&
            is_recovery_setting(to_lower_ascii(line.substr(pos, name_end - pos)))) {
            ++count;
            continue;
        }
        out.append(line);
    }
    if (removed != nullptr)
        *removed = count;
    return out;
}

std::string pg_conf_quote(std::string_view value)
{
    // As ALTER SYSTEM writes values (quotes and backslashes doubled). A line break cannot appear inside a
    // quoted value in postgresql.conf, so it is written as the escape "\n" (and "\r" likewise), which
    // PostgreSQL's config-file reader turns back into the character.
    std::string out = "'";
    for (char c : value) {
        switch (c) {
        case '\'':
            out += "''";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            out += c;
        }
    }
    out += '\'';
    return out;
}

std::string shell_quote(std::string_view word)
{
    const auto is_safe = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
            std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
    };
    if (!word.empty() && std::all_of(word.begin(), word.end(), is_safe))
        return std::string(word);
    std::string out = "'";
    for (char c : word) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    out += '\'';
    return out;
}

}  // namespace walvault
