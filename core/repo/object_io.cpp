// Object reads: storage.get() streams the stored bytes into a Decoder; errors other than "not found" are
// prefixed with the object's location.
#include "core/repo/object_io.h"

#include <algorithm>
#include <vector>

namespace walvault {
namespace {

// One pass of the decoder over the object under key, unprefixed.
Status decode_pass(Decoder& decoder, Storage& storage, const std::string& key, const ByteSink& out, ContentCheck check,
    ObjectMeta& meta)
{
    decoder.begin(out, check);
    Status s = storage.get(key, [&](const uint8_t* d, size_t n) { return decoder.update(d, n); });
    return s.is_ok() ? decoder.finish(meta) : s;
}

Status prefixed(Status s, Storage& storage, const std::string& key)
{
    if (!s.is_ok() && s.code() != Code::not_found)
        s.prefix("object \"" + storage.location(key) + "\"");
    return s;
}

}  // namespace

Status decode_object(Storage& storage, const std::string& key, const ByteSink& out, ObjectMeta& meta)
{
    Decoder decoder;
    return prefixed(decode_pass(decoder, storage, key, out, ContentCheck::sha256, meta), storage, key);
}

Status decode_object_fast(Storage& storage, const std::string& key, const ByteSink& out,
    const std::function<Status()>& restart, ObjectMeta& meta)
{
    Decoder decoder;
    return decode_object_fast(decoder, storage, key, out, restart, meta);
}

Status decode_object_fast(Decoder& decoder, Storage& storage, const std::string& key, const ByteSink& out,
    const std::function<Status()>& restart, ObjectMeta& meta)
{
    Status s = decode_pass(decoder, storage, key, out, ContentCheck::xxh3, meta);
    if (!s.is_ok() && decoder.needs_sha256()) {
        if (Status r = restart(); !r.is_ok())
            return r;
        s = decode_pass(decoder, storage, key, out, ContentCheck::sha256, meta);
    }
    return prefixed(s, storage, key);
}

Status read_object_meta(Storage& storage, const std::string& key, ObjectMeta& meta)
{
    ObjectInfo info;
    Status s = storage.head(key, info);
    if (!s.is_ok())
        return s;
    const uint64_t want = std::min<uint64_t>(info.size, k_max_trailer_bytes);
    std::vector<uint8_t> tail;
    s = storage.get_range(key, info.size - want, static_cast<size_t>(want), tail);
    if (s.is_ok())
        s = parse_trailer(tail.data(), tail.size(), meta);
    if (!s.is_ok())
        s.prefix("object \"" + storage.location(key) + "\"");
    return s;
}

}  // namespace walvault
