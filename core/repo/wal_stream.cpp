// Prefix objects are ordinary objects (codec.h) whose trailer names "<segment>.<length>.stream"; a prefix is
// never rewritten: a longer one is a new key, and the shorter ones go once it is durable.
#include "core/repo/wal_stream.h"

#include "core/codec/sha256.h"
#include "core/repo/object_io.h"
#include "core/repo/wal_archive.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace walvault {
namespace {

constexpr int k_receive_state_format = 1;
constexpr size_t k_max_state_bytes = 64UL * 1024;

// A prefix object from the PrefixEncoder, through `stage` if there is one (the encoder's: a stage sees the
// compressed bytes, the trailer included, whichever way they were made); create-only (Code::already_exists:
// nothing written).
Status write_prefix_object(Storage& storage, PrefixEncoder& incremental, ByteStage* stage,
    const Compression& compression, const std::string& key, const WalName& segment, const std::string& name,
    const uint8_t* data, size_t len)
{
    std::vector<uint8_t> object;
    EncodeResult result;
    Status s = incremental.encode(compression, segment.text, name, data, len, object, result);
    if (!s.is_ok())
        return s;
    std::unique_ptr<Writer> writer;
    s = storage.create(key, writer);
    if (!s.is_ok())
        return s;
    if (stage == nullptr) {
        s = writer->write(object.data(), object.size());
    } else {
        stage->begin([&writer](const uint8_t* d, size_t n) { return writer->write(d, n); });
        s = stage->update(object.data(), object.size());
        const Status end = stage->finish();  // always: the stage is done with the writer after it
        if (s.is_ok())
            s = end;
    }
    if (s.is_ok())
        s = writer->commit();
    if (!s.is_ok())
        writer->abort();
    return s;
}

}  // namespace

Status list_stream_prefixes(Storage& storage, const WalName& segment, std::vector<StreamPrefix>& out)
{
    out.clear();
    std::vector<ObjectInfo> objects;
    // "wal/<dir>/<segment>.": the segment's .partial, .backup and stream prefix objects, nothing else.
    const std::string key = wal_object_key(segment);
    Status s = storage.list(key.substr(0, key.size() - std::string_view(k_object_suffix).size()) + ".", objects);
    if (!s.is_ok())
        return s;
    for (const StreamPrefix& p : stream_prefixes_in(objects))
        if (p.segment.text == segment.text)
            out.push_back(p);
    std::sort(out.begin(), out.end(), [](const StreamPrefix& a, const StreamPrefix& b) { return a.length < b.length; });
    return Status::ok();
}

std::vector<StreamPrefix> stream_prefixes_in(const std::vector<ObjectInfo>& wal)
{
    std::vector<StreamPrefix> out;
    for (const ObjectInfo& o : wal)
        if (auto p = stream_prefix_of_key(o.key))
            out.push_back(std::move(*p));
    return out;
}

Status write_stream_prefix(Storage& storage, Encoder& encoder, const Compression& compression, const WalName& segment,
    const uint8_t* data, size_t len, PrefixEncoder* incremental)
{
    const std::string key = stream_prefix_key(segment, len);
    const std::string name = stream_prefix_name(segment, len);
    // head() first: a store that ignores If-None-Match would let a commit replace the object.
    ObjectInfo info;
    Status s = storage.head(key, info);
    if (s.code() == Code::not_found) {
        EncodeResult result;
        if (incremental != nullptr)
            s = write_prefix_object(storage, *incremental, encoder.stage(), compression, key, segment, name, data, len);
        else
            s = write_object_bytes(storage, encoder, compression, key, name, data, len, result);
        if (s.code() != Code::already_exists)
            return s;
    } else if (!s.is_ok()) {
        return s;
    }
    ObjectMeta meta;
    s = decode_object(
        storage, key, [](const uint8_t*, size_t) { return Status::ok(); }, meta);
    if (!s.is_ok())
        return s.prefix("could not read the stream prefix \"" + storage.location(key) + "\" that is already there");
    const std::string ours = sha256_hex(data, len);
    if (meta.sha256 != ours || meta.length != len || meta.name != name)
        return Status::error(Code::conflict,
            "\"" + name + "\" is already in the repository with different content: stored sha256 " + meta.sha256 +
                ", received sha256 " + ours,
            "Two clusters may be streaming into one repository. walvault never overwrites an object.");
    return storage.sync(key);
}

Status remove_stream_prefixes(Storage& storage, const WalName& segment, uint64_t keep_length)
{
    std::vector<StreamPrefix> prefixes;
    Status s = list_stream_prefixes(storage, segment, prefixes);
    if (!s.is_ok())
        return s;
    std::vector<std::string> keys;
    for (const StreamPrefix& p : prefixes)
        if (keep_length == 0 || p.length < keep_length)
            keys.push_back(stream_prefix_key(p.segment, p.length));
    return keys.empty() ? Status::ok() : storage.remove_many(keys);
}

std::string receive_state_to_json(const ReceiveState& state)
{
    nlohmann::json j = {{"format", k_receive_state_format}, {"slot", state.slot},
        {"system_identifier", std::to_string(state.system_identifier)}, {"timeline", state.timeline},
        {"received_lsn", format_lsn(state.received_lsn)}, {"flushed_lsn", format_lsn(state.flushed_lsn)},
        {"server_lsn", format_lsn(state.server_lsn)}, {"segment", state.segment}, {"updated", state.updated},
        {"host", state.host}, {"pid", state.pid}};
    return j.dump(2) + "\n";
}

Status receive_state_from_json(const std::string& text, ReceiveState& out)
{
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        if (j.at("format").get<int>() != k_receive_state_format)
            return Status::error(Code::corrupt, "unknown receive state format " + j.at("format").dump());
        out = ReceiveState{};
        out.slot = j.at("slot").get<std::string>();
        out.system_identifier = std::stoull(j.at("system_identifier").get<std::string>());
        out.timeline = j.at("timeline").get<uint32_t>();
        const auto received = parse_lsn(j.at("received_lsn").get<std::string>());
        const auto flushed = parse_lsn(j.at("flushed_lsn").get<std::string>());
        const auto server = parse_lsn(j.at("server_lsn").get<std::string>());
        if (!received || !flushed || !server)
            return Status::error(Code::corrupt, "receive state holds an LSN that is not one");
        out.received_lsn = *received;
        out.flushed_lsn = *flushed;
        out.server_lsn = *server;
        out.segment = j.at("segment").get<std::string>();
        out.updated = j.at("updated").get<int64_t>();
        out.host = j.value("host", "");
        out.pid = j.value("pid", 0);
    } catch (const std::exception& e) {
        return Status::error(Code::corrupt, std::string("receive state is not valid: ") + e.what());
    }
    return Status::ok();
}

Status write_receive_state(Storage& storage, const ReceiveState& state, int64_t unix_ms)
{
    Status s = write_small_object(storage, receive_state_key(state.slot, unix_ms), receive_state_to_json(state));
    if (!s.is_ok())
        return s.code() == Code::already_exists ? Status::ok() : s;  // one per millisecond is plenty
    std::vector<ObjectInfo> objects;
    s = storage.list(receive_state_prefix(state.slot), objects);
    if (!s.is_ok())
        return s;
    std::vector<std::string> older;
    for (const ObjectInfo& o : objects)
        if (const auto t = receive_state_time(o.key); t && *t < unix_ms)
            older.push_back(o.key);
    return older.empty() ? Status::ok() : storage.remove_many(older);
}

Status remove_receive_states(Storage& storage, const std::string& slot, size_t& removed)
{
    removed = 0;
    std::vector<ObjectInfo> objects;
    Status s = storage.list(receive_state_prefix(slot), objects);
    if (!s.is_ok())
        return s;
    std::vector<std::string> keys;
    for (const ObjectInfo& o : objects)
        if (receive_state_time(o.key))
            keys.push_back(o.key);
    if (keys.empty())
        return Status::ok();
    s = storage.remove_many(keys);
    if (s.is_ok())
        removed = keys.size();
    return s;
}

Status read_receive_states(Storage& storage, std::vector<ReceiveState>& out)
{
    out.clear();
    std::vector<ObjectInfo> objects;
    Status s = storage.list(k_receive_prefix, objects);
    if (!s.is_ok())
        return s;
    std::map<std::string, std::pair<int64_t, std::string>> newest;  // slot -> (time, key)
    for (const ObjectInfo& o : objects) {
        const auto t = receive_state_time(o.key);
        if (!t)
            continue;
        const std::string slot = o.key.substr(
            std::string_view(k_receive_prefix).size(), o.key.rfind('/') - std::string_view(k_receive_prefix).size());
        auto it = newest.find(slot);
        if (it == newest.end() || it->second.first < *t)
            newest[slot] = {*t, o.key};
    }
    for (const auto& [slot, found] : newest) {
        std::string text;
        s = storage.get(found.second, [&](const uint8_t* d, size_t n) {
            text.append(reinterpret_cast<const char*>(d), n);
            return text.size() <= k_max_state_bytes ? Status::ok()
                                                    : Status::error(Code::corrupt, "receive state is too large");
        });
        if (s.code() == Code::not_found)
            continue;  // replaced while we listed
        ReceiveState state;
        if (s.is_ok())
            s = receive_state_from_json(text, state);
        if (!s.is_ok())
            return s.prefix("could not read \"" + storage.location(found.second) + "\"");
        out.push_back(std::move(state));
    }
    return Status::ok();
}

}  // namespace walvault
