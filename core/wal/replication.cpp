// Replication messages are big-endian (network order) throughout.
#include "core/wal/replication.h"

namespace walvault {
namespace {

constexpr size_t k_xlog_data_header = 1 + 8 + 8 + 8;  // 'w', dataStart, walEnd, sendTime
constexpr size_t k_keepalive_len = 1 + 8 + 8 + 1;     // 'k', walEnd, sendTime, replyRequested
constexpr size_t k_status_update_len = 1 + 8 + 8 + 8 + 8 + 1;

uint64_t read_be64(const uint8_t* p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | p[i];
    return v;
}

void append_be64(std::vector<uint8_t>& out, uint64_t v)
{
    for (int i = 7; i >= 0; --i)
        out.push_back(static_cast<uint8_t>(v >> (i * 8)));
}

}  // namespace

std::optional<ReplicationMessage> parse_replication_message(const uint8_t* data, size_t len)
{
    if (len == 0)
        return std::nullopt;
    ReplicationMessage m;
    if (data[0] == 'w' && len >= k_xlog_data_header) {
        m.kind = ReplicationMessage::Kind::xlog_data;
        m.wal_start = read_be64(data + 1);
        m.wal_end = read_be64(data + 9);
        m.send_time = static_cast<int64_t>(read_be64(data + 17));
        m.payload = data + k_xlog_data_header;
        m.payload_len = len - k_xlog_data_header;
        return m;
    }
    if (data[0] == 'k' && len >= k_keepalive_len) {
        m.kind = ReplicationMessage::Kind::keepalive;
        m.wal_end = read_be64(data + 1);
        m.send_time = static_cast<int64_t>(read_be64(data + 9));
        m.reply_requested = data[17] != 0;
        return m;
    }
    return std::nullopt;
}

std::vector<uint8_t> standby_status_update(
    uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn, int64_t now_pg_us, bool reply_requested)
{
    std::vector<uint8_t> out;
    out.reserve(k_status_update_len);
    out.push_back('r');
    append_be64(out, write_lsn);
    append_be64(out, flush_lsn);
    append_be64(out, apply_lsn);
    append_be64(out, static_cast<uint64_t>(now_pg_us));
    out.push_back(reply_requested ? 1 : 0);
    return out;
}

bool should_flush(const FlushPolicy& policy, uint64_t new_bytes, std::chrono::milliseconds since_last_upload)
{
    if (new_bytes == 0)
        return false;
    return policy.synchronous || new_bytes >= policy.bytes || since_last_upload >= policy.interval;
}

}  // namespace walvault
