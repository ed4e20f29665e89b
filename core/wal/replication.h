// The physical replication protocol's CopyData messages as a client reads and writes them (PostgreSQL's
// "Streaming Replication Protocol"): XLogData ('w') and primary keepalive ('k') from the server, standby status
// update ('r') to it; and when walvault receive makes a streamed prefix durable. Pure functions, no libpq.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace walvault {

// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 00:00:00 UTC), for message timestamps.
constexpr int64_t k_pg_epoch_offset_us = 946684800LL * 1000000;

struct ReplicationMessage {
    enum class Kind { xlog_data, keepalive } kind = Kind::xlog_data;
    uint64_t wal_start = 0;  // xlog_data: the LSN of the first byte of payload
    uint64_t wal_end = 0;    // the server's end of WAL
    int64_t send_time = 0;   // microseconds since PostgreSQL's epoch
    bool reply_requested = false;
    const uint8_t* payload = nullptr;  // xlog_data: into the message buffer
    size_t payload_len = 0;
};

// Parses one CopyData message of a START_REPLICATION ... PHYSICAL stream; nullopt if it is neither kind or
// too short.
std::optional<ReplicationMessage> parse_replication_message(const uint8_t* data, size_t len);

// A standby status update ('r'): written, flushed and applied positions, the client's clock (microseconds since
// PostgreSQL's epoch) and whether the server should reply at once. 34 bytes.
std::vector<uint8_t> standby_status_update(
    uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn, int64_t now_pg_us, bool reply_requested);

// Whether walvault receive uploads a new streamed prefix now: it holds new bytes and either the flush interval
// has passed since the last upload, or the new bytes reach flush_bytes, or it runs --synchronous (a commit
// waits on the receiver: every batch read goes up at once).
struct FlushPolicy {
    std::chrono::milliseconds interval{5000};
    uint64_t bytes = 1024ULL * 1024;
    bool synchronous = false;
};
bool should_flush(const FlushPolicy& policy, uint64_t new_bytes, std::chrono::milliseconds since_last_upload);

}  // namespace walvault
