// Repository layout: where everything lives in a repository, the one source of every object key
// (docs/repository-format.md describes the same). Keys are pure functions of names, so fetching a WAL file
// is one GET, no LIST.
#pragma once

#include "core/wal/wal_name.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace walvault {

constexpr const char* k_identity_key = "identity.json";
constexpr const char* k_wal_prefix = "wal/";

// wal/00000002.history.zst
// wal/0000000100000000/000000010000000000000003.zst            (segment)
// wal/0000000100000000/000000010000000000000003.partial.zst    (partial)
// wal/0000000100000000/000000010000000000000003.00000028.backup.zst
// The directory is timeline + xlogid: 256 segments of 16 MiB, never more than 4096 of 1 MiB.
std::string wal_object_key(const WalName& name);

// A streamed prefix of a segment (walvault receive): the segment's first `length` bytes, under a key of its own
// beside the segment's, create-only like every object:
// wal/0000000100000000/000000010000000000000003.00A00000.stream.zst (length in 8 hex digits). No WAL file name
// has this form, so wal_name_of_key() (core/repo/wal_catalog.h) takes it for no WAL object.
constexpr const char* k_stream_suffix = ".stream";
struct StreamPrefix {
    WalName segment;      // a WalKind::segment name
    uint64_t length = 0;  // bytes from the segment's start, 1 .. segment size
};
std::string stream_prefix_key(const WalName& segment, uint64_t length);
// The name the object's trailer records: "000000010000000000000003.00A00000.stream".
std::string stream_prefix_name(const WalName& segment, uint64_t length);
// The prefix a key stores, if it is exactly the key stream_prefix_key() gives for it; nullopt otherwise.
std::optional<StreamPrefix> stream_prefix_of_key(std::string_view key);

// The state walvault receive keeps for a replication slot: receive/<slot>/state.<unix ms, 15 digits>.json, a
// new object at each upload, the older ones removed after it (the newest counts).
constexpr const char* k_receive_prefix = "receive/";
std::string receive_state_prefix(const std::string& slot);  // "receive/<slot>/"
std::string receive_state_key(const std::string& slot, int64_t unix_ms);
std::optional<int64_t> receive_state_time(std::string_view key);  // for a key under receive/<slot>/

// Base backups: backup/<label>/ holds started.json (written first), data/ and backup.json (written last);
// while it is written, lease.<T>.json (the writer's heartbeat at unix time T, renewed by writing a new one
// before removing the old, so one always exists); once pinned, pin.<T>.json (the newest one counts).
constexpr const char* k_backup_prefix = "backup/";
constexpr const char* k_backup_manifest_name = "backup.json";  // backup/<label>/backup.json, written last
constexpr const char* k_backup_started_name = "started.json";  // backup/<label>/started.json, written first
constexpr const char* k_backup_data_dir = "data/";             // backup/<label>/data/<path>.zst[.<part>]

std::string backup_prefix(const std::string& label);        // "backup/<label>/"
std::string backup_manifest_key(const std::string& label);  // "backup/<label>/backup.json"
std::string backup_started_key(const std::string& label);   // "backup/<label>/started.json"
// "backup/<label>/lease.000001795428900.json" and "backup/<label>/pin.000001795428900.json": the time is
// zero-padded to 15 digits so that key order is time order.
std::string backup_lease_key(const std::string& label, int64_t unix_seconds);
std::string backup_pin_key(const std::string& label, int64_t unix_seconds);
// For a key under backup/<label>/: whether it is a lease (or pin) object, and its time.
std::optional<int64_t> backup_lease_time(std::string_view key);
std::optional<int64_t> backup_pin_time(std::string_view key);
// ".../data/<path>.zst", with bytes outside [A-Za-z0-9._-/] and a leading "." of a component as %XX.
std::string backup_file_key(const std::string& label, const std::string& path);
// Part `index` (from 0) of a file stored in parts: backup_file_key() + "." + index, ".../data/<path>.zst.3".
std::string backup_part_key(const std::string& label, const std::string& path, size_t index);
std::string backup_part_key(const std::string& file_key, size_t index);  // the same from the file's key
// The label a key under backup/ belongs to; nullopt for keys outside backup/.
std::optional<std::string> label_of_backup_key(std::string_view key);

}  // namespace walvault
