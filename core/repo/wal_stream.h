// Streamed WAL in the repository (walvault receive): the prefix objects of a segment in progress
// (stream_prefix_key, core/repo/layout.h) and the receiver's state object per replication slot. wal-fetch serves
// the longest prefix of a segment that is not archived whole; expire and verify know these keys.
#pragma once

#include "core/codec/codec.h"
#include "core/common/status.h"
#include "core/repo/layout.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace walvault {

// The stream prefixes the repository holds of `segment` (a WalKind::segment name), shortest first.
Status list_stream_prefixes(Storage& storage, const WalName& segment, std::vector<StreamPrefix>& out);

// Every stream prefix object in a listing of wal/ (keys that are not prefixes are skipped), in key order.
std::vector<StreamPrefix> stream_prefixes_in(const std::vector<ObjectInfo>& wal);

// Writes the first len bytes of `segment` as a prefix object. Create-only: a prefix of that length already
// there is success if it holds the same bytes and Code::conflict if not. Ok once it is durable. With
// `incremental`, only the bytes past the complete frames of the last prefix of the same segment are
// compressed again (PrefixEncoder, core/codec/codec.h); the encoder's stage (encryption), if it has one, then
// takes the whole compressed object, as it would from the encoder.
Status write_stream_prefix(Storage& storage, Encoder& encoder, const Compression& compression, const WalName& segment,
    const uint8_t* data, size_t len, PrefixEncoder* incremental = nullptr);

// Removes the prefixes of `segment` shorter than keep_length (0: all of them).
Status remove_stream_prefixes(Storage& storage, const WalName& segment, uint64_t keep_length);

// What walvault receive last made durable for a slot.
struct ReceiveState {
    std::string slot;
    uint64_t system_identifier = 0;
    uint32_t timeline = 0;
    uint64_t received_lsn = 0;  // end of the WAL received from the server
    uint64_t flushed_lsn = 0;   // end of the WAL durable in the repository (reported to the server as flushed)
    uint64_t server_lsn = 0;    // the server's end of WAL at the last message
    std::string segment;        // the segment in progress ("" at a segment boundary)
    int64_t updated = 0;        // unix seconds of the upload
    std::string host;           // where the receiver runs
    int pid = 0;
};

std::string receive_state_to_json(const ReceiveState& state);
Status receive_state_from_json(const std::string& text, ReceiveState& out);

// Writes a new state object for state.slot (its key carries unix_ms), then removes the slot's older ones.
Status write_receive_state(Storage& storage, const ReceiveState& state, int64_t unix_ms);

// Removes every state object of `slot` (a receiver taken out of service: `walvault check` stops judging it).
// State objects hold no WAL.
Status remove_receive_states(Storage& storage, const std::string& slot, size_t& removed);

// The newest state of every slot that has one, by slot name.
Status read_receive_states(Storage& storage, std::vector<ReceiveState>& out);

}  // namespace walvault
