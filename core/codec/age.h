// Client-side encryption in the age v1 format (https://age-encryption.org/v1, C2SP "age"): X25519 recipients
// and identities in their bech32 text forms, and the two ByteStages of the object codec: AgeEncryptStage turns
// the stored object into an age file for a list of recipients, AgeDecryptStage turns it back with the identities
// of an identity file. Only the framing is written here; every primitive is OpenSSL's (X25519, HKDF-SHA256,
// ChaCha20-Poly1305, HMAC-SHA256, scrypt). No function here logs or returns key material in a message.
#pragma once

#include "core/codec/byte_stage.h"
#include "core/common/byte_sink.h"
#include "core/common/status.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walvault {

constexpr size_t k_age_chunk_bytes = 64UL * 1024;       // plaintext bytes per payload chunk (the spec)
constexpr size_t k_age_tag_bytes = 16;                  // Poly1305 tag of every chunk
constexpr size_t k_age_max_header_bytes = 64UL * 1024;  // a longer header is refused (ours: ~110 bytes a recipient)
constexpr int k_age_max_scrypt_log_n = 20;              // scrypt work factor refused above 2^20 (1 GiB of memory)
constexpr size_t k_age_fingerprint_chars = 16;          // hex digits of a recipient's fingerprint

// bech32 (BIP173, checksum constant 1, no length limit). decode: hrp comes back lower case; mixed case, a
// character outside the alphabet, a bad checksum or bad padding are Code::invalid, the text never quoted.
std::string bech32_encode(std::string_view hrp, const std::vector<uint8_t>& data);
Status bech32_decode(std::string_view text, std::string& hrp, std::vector<uint8_t>& data);

// Base64 of RFC 4648 without padding, as age writes it; decode refuses padding and non-canonical text.
std::string age_base64_encode(const uint8_t* data, size_t len);
bool age_base64_decode(std::string_view text, std::vector<uint8_t>& out);

// A recipient: an X25519 public key, "age1..." (bech32, hrp "age").
struct AgeRecipient {
    std::array<uint8_t, 32> key{};
    std::string text;  // canonical: lower case bech32
};

// An identity: an X25519 secret key ("AGE-SECRET-KEY-1...") or a passphrase (scrypt stanzas).
struct AgeIdentity {
    enum class Kind { x25519, passphrase } kind = Kind::x25519;
    std::array<uint8_t, 32> secret{};
    std::array<uint8_t, 32> public_key{};  // x25519: the recipient of this identity
    std::string passphrase;
    ~AgeIdentity();  // wipes the secret and the passphrase
    AgeIdentity() = default;
    AgeIdentity(const AgeIdentity&) = default;
    AgeIdentity& operator=(const AgeIdentity&) = default;
};

Status parse_age_recipient(std::string_view text, AgeRecipient& out);
// A comma-separated list (spaces around the commas allowed; empty items refused); an empty text gives none.
Status parse_age_recipients(std::string_view list, std::vector<AgeRecipient>& out);
// The contents of an identity file: one AGE-SECRET-KEY-1... per line, '#' comments and blank lines ignored.
// At least one identity. Messages name the line number, never its text.
Status parse_age_identities(std::string_view contents, std::vector<AgeIdentity>& out);
AgeIdentity age_passphrase_identity(std::string passphrase);
// Reads and parses an identity file; refuses one that its group or others may read or write (as ssh does).
Status read_age_identity_file(const std::string& path, std::vector<AgeIdentity>& out);
// The recipient of an X25519 identity.
AgeRecipient age_recipient_of(const AgeIdentity& identity);
std::string age_identity_text(const AgeIdentity& identity);  // AGE-SECRET-KEY-1..., for tests and key generation
// A new X25519 identity from the CSPRNG.
Status age_generate_identity(AgeIdentity& out);
// Short public name of a recipient for the repository identity: the first 16 hex digits of sha256(text).
std::string age_recipient_fingerprint(const AgeRecipient& recipient);

// Whether stored bytes begin like an age file (the version line's prefix).
bool looks_like_age(const uint8_t* data, size_t len);

// walvault's own stanza in the header of every object it encrypts, "-> walvault r=FP,FP[ n=LENGTH x=XXH3]"
// with an empty body, which age and every reader skip ("MUST ignore unrecognized stanzas"). It tells, without
// any secret, the recipients an object is encrypted to (their fingerprints: `walvault rekey` finds the objects
// that only retired keys open) and, for a WAL file, the original length and XXH3-128 (the archiver, which holds
// no identity, tells a second archiving of the same file from a different one). The header MAC covers it, so
// a reader with an identity detects it altered; a writer without one trusts it as it trusts an object's size.
struct AgeNote {
    std::vector<std::string> recipients;  // fingerprints (age_recipient_fingerprint), sorted
    bool has_content = false;             // n= and x= present
    uint64_t length = 0;                  // original bytes
    std::string xxh3_128;                 // hex, of the original bytes
};
constexpr size_t k_age_header_read_bytes = k_age_max_header_bytes + 1;  // enough stored bytes for any header

// Reads the note from the first stored bytes of an object (at least its whole header, or all of a shorter
// object). found: whether the header has a walvault stanza. Code::corrupt if the bytes are not an age header.
Status read_age_note(const uint8_t* data, size_t len, AgeNote& out, bool& found);

class AgeCrypto;  // OpenSSL contexts, kept out of this header

// Encrypts one stream to every recipient: header, 16-byte nonce, then 64 KiB chunks (the last one may be full;
// it is empty only when the whole stream is). Holds back at most one chunk. A fresh file key and nonce per
// begin().
class AgeEncryptStage : public ByteStage {
public:
    explicit AgeEncryptStage(std::vector<AgeRecipient> recipients);
    ~AgeEncryptStage() override;
    // The original length and XXH3-128 for the note (AgeNote) of the next object begun; none by default.
    void set_content(uint64_t length, std::string xxh3_128);
    AgeEncryptStage(const AgeEncryptStage&) = delete;
    AgeEncryptStage& operator=(const AgeEncryptStage&) = delete;

    void begin(const ByteSink& next) override;
    Status update(const uint8_t* data, size_t len) override;
    Status finish() override;

private:
    Status flush_header();
    Status seal_chunk(bool last);

    std::vector<AgeRecipient> m_recipients;
    std::string m_fingerprints;                                 // the note's r=: sorted, comma-separated
    std::optional<std::pair<uint64_t, std::string>> m_content;  // set_content(), for the next begin()
    std::unique_ptr<AgeCrypto> m_crypto;
    ByteSink m_next;
    Status m_state;                 // a failure of begin(), returned by update() and finish()
    std::vector<uint8_t> m_header;  // header and nonce, sent with the first output
    std::vector<uint8_t> m_plain;   // the chunk in progress
    std::vector<uint8_t> m_sealed;
    uint64_t m_counter = 0;
};

// Decrypts one age file with the first identity that opens one of its stanzas. Fails with Code::corrupt on a
// malformed header, a wrong header MAC, a damaged, reordered or truncated chunk, a missing final chunk or
// bytes after it; with Code::invalid when no identity opens any stanza. Holds back at most one chunk.
class AgeDecryptStage : public ByteStage {
public:
    explicit AgeDecryptStage(std::vector<AgeIdentity> identities);
    ~AgeDecryptStage() override;
    AgeDecryptStage(const AgeDecryptStage&) = delete;
    AgeDecryptStage& operator=(const AgeDecryptStage&) = delete;

    void begin(const ByteSink& next) override;
    Status update(const uint8_t* data, size_t len) override;
    Status finish() override;

    // After a header was opened: the index in the identities of the one that opened it.
    size_t matched_identity() const { return m_matched; }

private:
    enum class Phase { header, payload, failed };
    Status take_header();
    Status feed_payload(const uint8_t* data, size_t len);
    Status open_chunk(bool last);
    Status fail(Status s);

    std::vector<AgeIdentity> m_identities;
    std::unique_ptr<AgeCrypto> m_crypto;
    ByteSink m_next;
    Phase m_phase = Phase::header;
    Status m_failure;
    std::vector<uint8_t> m_in;  // the header so far, then the nonce and the chunk in progress
    std::vector<uint8_t> m_file_key;
    std::vector<uint8_t> m_plain;
    bool m_have_nonce = false;
    uint64_t m_counter = 0;
    size_t m_matched = 0;
};

}  // namespace walvault
