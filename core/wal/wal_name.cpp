// WAL file names: parsing, formatting and ordering. Every rule here follows xlog_internal.h; names are
// upper-case hex because that is what PostgreSQL writes and what restore_command asks for.
#include "core/wal/wal_name.h"

#include <cstdio>

namespace walvault {
namespace {

constexpr std::string_view k_partial_suffix = ".partial";
constexpr std::string_view k_history_suffix = ".history";
constexpr std::string_view k_backup_suffix = ".backup";
constexpr size_t k_hex8 = 8;
constexpr uint64_t k_xlog_id_span = 0x100000000ULL;  // bytes of WAL per "log" (xlogid)

bool is_upper_hex(std::string_view s)
{
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return false;
    return !s.empty();
}

uint32_t hex32(std::string_view s)
{
    uint32_t v = 0;
    for (char c : s)
        v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'A' + 10);
    return v;
}

bool ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool parse_segment_part(std::string_view s, WalName& out)
{
    if (s.size() != k_xlog_fname_len || !is_upper_hex(s))
        return false;
    out.timeline = hex32(s.substr(0, k_hex8));
    out.log = hex32(s.substr(8, k_hex8));
    out.seg = hex32(s.substr(16, k_hex8));
    return out.timeline != 0;  // timeline 0 does not exist
}

}  // namespace

std::optional<WalName> parse_wal_name(std::string_view name)
{
    WalName out;
    out.text = std::string(name);
    if (name.size() == k_xlog_fname_len) {
        out.kind = WalKind::segment;
        if (!parse_segment_part(name, out))
            return std::nullopt;
        return out;
    }
    if (ends_with(name, k_partial_suffix) && name.size() == k_xlog_fname_len + k_partial_suffix.size()) {
        out.kind = WalKind::partial;
        if (!parse_segment_part(name.substr(0, k_xlog_fname_len), out))
            return std::nullopt;
        return out;
    }
    if (ends_with(name, k_history_suffix) && name.size() == k_hex8 + k_history_suffix.size()) {
        std::string_view tli = name.substr(0, k_hex8);
        if (!is_upper_hex(tli))
            return std::nullopt;
        out.kind = WalKind::history;
        out.timeline = hex32(tli);
        if (out.timeline == 0)
            return std::nullopt;
        return out;
    }
    if (ends_with(name, k_backup_suffix) && name.size() == k_xlog_fname_len + 1 + k_hex8 + k_backup_suffix.size() &&
        name[k_xlog_fname_len] == '.') {
        std::string_view offset = name.substr(k_xlog_fname_len + 1, k_hex8);
        if (!is_upper_hex(offset) || !parse_segment_part(name.substr(0, k_xlog_fname_len), out))
            return std::nullopt;
        out.kind = WalKind::backup;
        out.backup_offset = hex32(offset);
        return out;
    }
    return std::nullopt;
}

bool valid_wal_segment_size(uint64_t bytes)
{
    return bytes >= k_min_wal_segment_size && bytes <= k_max_wal_segment_size && (bytes & (bytes - 1)) == 0;
}

uint64_t segment_number(const WalName& name, uint64_t segment_size)
{
    return static_cast<uint64_t>(name.log) * (k_xlog_id_span / segment_size) + name.seg;
}

std::string segment_file_name(uint32_t timeline, uint64_t segno, uint64_t segment_size)
{
    const uint64_t per_id = k_xlog_id_span / segment_size;
    char buf[k_xlog_fname_len + 1];
    std::snprintf(buf, sizeof(buf), "%08X%08X%08X", timeline, static_cast<uint32_t>(segno / per_id),
        static_cast<uint32_t>(segno % per_id));
    return buf;
}

std::string next_segment_name(const WalName& name, uint64_t segment_size)
{
    return segment_file_name(name.timeline, segment_number(name, segment_size) + 1, segment_size);
}

std::string history_file_name(uint32_t timeline)
{
    char buf[k_hex8 + 1];
    std::snprintf(buf, sizeof(buf), "%08X", timeline);
    return std::string(buf) + std::string(k_history_suffix);
}

bool archive_order_less(std::string_view a, std::string_view b)
{
    const bool ha = ends_with(a, k_history_suffix);
    const bool hb = ends_with(b, k_history_suffix);
    if (ha != hb)
        return ha;
    return a < b;
}

std::optional<uint64_t> parse_lsn(std::string_view text)
{
    const size_t slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash > 8 || text.size() - slash - 1 == 0 ||
        text.size() - slash - 1 > 8)
        return std::nullopt;
    uint64_t hi = 0;
    uint64_t lo = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (i == slash)
            continue;
        char c = text[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return std::nullopt;
        uint64_t& part = i < slash ? hi : lo;
        part = part * 16 + static_cast<uint64_t>(d);
    }
    return (hi << 32) | lo;
}

std::string format_lsn(uint64_t lsn)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%X/%X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
    return buf;
}

}  // namespace walvault
