// Parsing of timeline history files; the rules are PostgreSQL's readTimeLineHistory().
#include "core/wal/timeline_history.h"

#include "core/wal/wal_name.h"

#include <charconv>

namespace walvault {
namespace {

Status history_error(uint32_t timeline, size_t line, const std::string& what)
{
    return Status::error(Code::corrupt,
        "syntax error in history file \"" + history_file_name(timeline) + "\", line " + std::to_string(line) + ": " +
            what);
}

bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

}  // namespace

Status parse_timeline_history(std::string_view text, uint32_t timeline, std::vector<TimelineSwitch>& out)
{
    out.clear();
    size_t number = 0;
    while (!text.empty()) {
        const size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        ++number;
        while (!line.empty() && is_blank(line.front()))
            line.remove_prefix(1);
        if (line.empty() || line.front() == '#')
            continue;

        TimelineSwitch entry;
        const auto [tli_end, tli_err] = std::from_chars(line.data(), line.data() + line.size(), entry.parent);
        if (tli_err != std::errc() || tli_end == line.data())
            return history_error(timeline, number, "expected a numeric timeline ID");
        line.remove_prefix(static_cast<size_t>(tli_end - line.data()));
        if (line.empty() || line.front() != '\t')
            return history_error(timeline, number, "expected a write-ahead log switchpoint location");
        line.remove_prefix(1);
        const size_t lsn_end = line.find_first_of("\t\r ");
        const std::optional<uint64_t> lsn = parse_lsn(line.substr(0, lsn_end));
        if (!lsn)
            return history_error(timeline, number, "expected a write-ahead log switchpoint location");
        entry.switch_lsn = *lsn;
        if (lsn_end != std::string_view::npos) {
            std::string_view reason = line.substr(lsn_end);
            while (!reason.empty() && is_blank(reason.front()))
                reason.remove_prefix(1);
            while (!reason.empty() && is_blank(reason.back()))
                reason.remove_suffix(1);
            entry.reason = std::string(reason);
        }
        if (!out.empty() && entry.parent <= out.back().parent)
            return history_error(timeline, number, "timeline IDs must be in increasing sequence");
        if (entry.parent >= timeline)
            return history_error(timeline, number, "timeline IDs must be less than the child timeline's ID");
        out.push_back(std::move(entry));
    }
    return Status::ok();
}

std::optional<uint64_t> switch_point_from(const std::vector<TimelineSwitch>& history, uint32_t ancestor)
{
    for (const TimelineSwitch& entry : history)
        if (entry.parent == ancestor)
            return entry.switch_lsn;
    return std::nullopt;
}

ResumePoint resume_point(uint32_t timeline, uint64_t received, uint64_t durable, uint32_t server_timeline,
    uint64_t server_lsn, const std::vector<TimelineSwitch>& server_history)
{
    ResumePoint r;
    if (timeline == server_timeline) {
        if (server_lsn < durable)
            r.kind = ResumePoint::Kind::server_behind;
        return r;
    }
    for (size_t i = 0; i < server_history.size(); ++i) {
        if (server_history[i].parent != timeline)
            continue;
        if (server_history[i].switch_lsn >= received)
            return r;
        r.kind = ResumePoint::Kind::forked;
        r.switch_lsn = server_history[i].switch_lsn;
        r.next_timeline = i + 1 < server_history.size() ? server_history[i + 1].parent : server_timeline;
        return r;
    }
    r.kind = ResumePoint::Kind::foreign;
    return r;
}

}  // namespace walvault
