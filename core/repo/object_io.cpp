// Object reads: storage.get() streams the stored bytes into a Decoder; errors other than "not found" are
// prefixed with the object's location.
#include "core/repo/object_io.h"

#include "core/codec/age.h"
#include "core/repo/layout.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace walvault {
namespace {

std::mutex g_identities_mutex;
std::shared_ptr<const std::vector<AgeIdentity>> g_identities;

std::shared_ptr<const std::vector<AgeIdentity>> object_identities()
{
    std::lock_guard lock(g_identities_mutex);
    return g_identities;
}

constexpr size_t k_sniff_bytes = 19;        // strlen("age-encryption.org/"): enough to tell an age file
constexpr size_t k_note_first_read = 4096;  // read_object_note: a header of up to ~30 recipients

// The decoder's stage for objects of any repository: the first bytes say whether the object is an age file,
// which goes through an AgeDecryptStage with the process's identities; any other object passes as it is.
class ObjectReadStage : public ByteStage {
public:
    void begin(const ByteSink& next) override
    {
        m_next = next;
        m_head.clear();
        m_route = nullptr;
        m_plain = false;
    }

    Status update(const uint8_t* data, size_t len) override
    {
        if (m_route == nullptr && !m_plain) {
            const size_t take = std::min(len, k_sniff_bytes - m_head.size());
            m_head.insert(m_head.end(), data, data + take);
            data += take;
            len -= take;
            if (m_head.size() < k_sniff_bytes)
                return Status::ok();
            if (Status s = decide(); !s.is_ok())
                return s;
        }
        if (len == 0)
            return Status::ok();
        return m_plain ? m_next(data, len) : m_route->update(data, len);
    }

    Status finish() override
    {
        if (m_route == nullptr && !m_plain) {
            if (Status s = decide(); !s.is_ok())
                return s;
        }
        return m_plain ? Status::ok() : m_route->finish();
    }

private:
    // Routes the stream by its first bytes, and passes them on.
    Status decide()
    {
        if (!looks_like_age(m_head.data(), m_head.size())) {
            m_plain = true;
            return m_head.empty() ? Status::ok() : m_next(m_head.data(), m_head.size());
        }
        const auto identities = object_identities();
        if (!identities || identities->empty())
            return Status::error(Code::invalid, "the object is encrypted and no identity was given to decrypt it",
                "Pass the identity file of one of the repository's recipients with --encryption-identity-file "
                "(or WALVAULT_ENCRYPTION_IDENTITY_FILE).");
        if (!m_decrypt || m_decrypt_source != identities) {
            m_decrypt = std::make_unique<AgeDecryptStage>(*identities);
            m_decrypt_source = identities;
        }
        m_route = m_decrypt.get();
        m_route->begin(m_next);
        return m_route->update(m_head.data(), m_head.size());
    }

    ByteSink m_next;
    std::vector<uint8_t> m_head;
    ByteStage* m_route = nullptr;
    bool m_plain = false;
    std::unique_ptr<AgeDecryptStage> m_decrypt;
    std::shared_ptr<const std::vector<AgeIdentity>> m_decrypt_source;
};

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

// decode_object_fast's two passes with the decoder as the caller set it up.
Status decode_object_fast_pass(Decoder& decoder, Storage& storage, const std::string& key, const ByteSink& out,
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

}  // namespace

void set_object_identities(std::vector<AgeIdentity> identities)
{
    auto shared = std::make_shared<const std::vector<AgeIdentity>>(std::move(identities));
    std::lock_guard lock(g_identities_mutex);
    g_identities = std::move(shared);
}

bool have_object_identities()
{
    const auto identities = object_identities();
    return identities && !identities->empty();
}

Status decode_object(Storage& storage, const std::string& key, const ByteSink& out, ObjectMeta& meta)
{
    Decoder decoder;
    ObjectReadStage stage;
    decoder.set_stage(&stage);
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
    ObjectReadStage stage;
    decoder.set_stage(&stage);
    Status s = decode_object_fast_pass(decoder, storage, key, out, restart, meta);
    decoder.set_stage(nullptr);  // the stage ends here; the decoder goes on to other objects
    return s;
}

Status read_object_note(Storage& storage, const std::string& key, bool& encrypted, AgeNote& note, bool& found)
{
    encrypted = false;
    found = false;
    // A header of a few recipients fits the first read; a longer one is read again whole.
    for (const size_t want : {k_note_first_read, k_age_header_read_bytes}) {
        std::vector<uint8_t> head;
        Status s = storage.get_range(key, 0, want, head);
        if (!s.is_ok())
            return prefixed(s, storage, key);
        encrypted = looks_like_age(head.data(), head.size());
        if (!encrypted)
            return Status::ok();
        s = read_age_note(head.data(), head.size(), note, found);
        if (s.is_ok() || head.size() < want || want == k_age_header_read_bytes)
            return prefixed(s, storage, key);
    }
    return Status::ok();
}

Status reencrypt_object(Storage& storage, const std::string& key, const std::vector<AgeRecipient>& recipients,
    const AgeNote& note, ObjectMeta& meta)
{
    const auto identities = object_identities();
    if (!identities || identities->empty())
        return prefixed(
            Status::error(Code::invalid, "re-encrypting needs an identity that opens the object"), storage, key);
    AgeEncryptStage encrypt(recipients);
    if (note.has_content) {
        encrypt.set_content(note.length, note.xxh3_128);
    } else if (key.starts_with(k_wal_prefix)) {
        Status s = decode_object(
            storage, key, [](const uint8_t*, size_t) { return Status::ok(); }, meta);
        if (!s.is_ok())
            return s;
        if (!meta.xxh3_128.empty())
            encrypt.set_content(meta.length, meta.xxh3_128);
    }
    std::unique_ptr<Writer> writer;
    Status s = storage.replace(key, writer);
    if (!s.is_ok())
        return prefixed(s, storage, key);
    // stored bytes -> decrypt -> (the plain object) -> check against its trailer, and encrypt -> writer
    Decoder check;
    check.begin([](const uint8_t*, size_t) { return Status::ok(); }, ContentCheck::sha256);
    encrypt.begin([&](const uint8_t* d, size_t n) { return writer->write(d, n); });
    AgeDecryptStage decrypt(*identities);
    decrypt.begin([&](const uint8_t* d, size_t n) {
        Status st = check.update(d, n);
        return st.is_ok() ? encrypt.update(d, n) : st;
    });
    s = storage.get(key, [&](const uint8_t* d, size_t n) { return decrypt.update(d, n); });
    if (s.is_ok())
        s = decrypt.finish();
    if (s.is_ok())
        s = check.finish(meta);
    if (s.is_ok())
        s = encrypt.finish();
    if (s.is_ok())
        s = writer->commit();
    if (!s.is_ok())
        writer->abort();
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
    if (s.code() == Code::corrupt) {
        // An encrypted object's trailer is inside its last chunk: read the object whole.
        std::vector<uint8_t> head;
        if (storage.get_range(key, 0, k_sniff_bytes, head).is_ok() && looks_like_age(head.data(), head.size()))
            return decode_object(
                storage, key, [](const uint8_t*, size_t) { return Status::ok(); }, meta);
    }
    if (!s.is_ok())
        s.prefix("object \"" + storage.location(key) + "\"");
    return s;
}

}  // namespace walvault
