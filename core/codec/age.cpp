// The age v1 format over OpenSSL EVP. Header lines, stanzas and the STREAM payload follow the C2SP age
// specification (age.md): its section names are quoted where a rule comes from it.
#include "core/codec/age.h"

#include "core/codec/sha256.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

namespace walvault {
namespace {

constexpr std::string_view k_version_line = "age-encryption.org/v1";
constexpr std::string_view k_version_prefix = "age-encryption.org/";
constexpr std::string_view k_recipient_hrp = "age";
constexpr std::string_view k_identity_hrp = "age-secret-key-";
constexpr std::string_view k_x25519_info = "age-encryption.org/v1/X25519";
constexpr std::string_view k_scrypt_salt_label = "age-encryption.org/v1/scrypt";
constexpr std::string_view k_note_type = "walvault";  // AgeNote's stanza
constexpr size_t k_file_key_bytes = 16;
constexpr size_t k_nonce_bytes = 16;
constexpr size_t k_key_bytes = 32;
constexpr size_t k_max_identity_file_bytes = 1024UL * 1024;
constexpr size_t k_body_columns = 64;  // stanza bodies are wrapped at 64 columns
constexpr size_t k_cipher_chunk_bytes = k_age_chunk_bytes + k_age_tag_bytes;
constexpr const char* k_bech32_charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr const char* k_base64_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const uint8_t* bytes_of(std::string_view s)
{
    return reinterpret_cast<const uint8_t*>(s.data());
}

// ---- bech32 (BIP173) -----------------------------------------------------------------------------------

uint32_t bech32_polymod(const std::vector<uint8_t>& values)
{
    constexpr uint32_t k_gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (uint8_t v : values) {
        const uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i)
            chk ^= ((top >> i) & 1) != 0 ? k_gen[i] : 0;
    }
    return chk;
}

std::vector<uint8_t> bech32_hrp_expand(std::string_view hrp)
{
    std::vector<uint8_t> out;
    for (char c : hrp)
        out.push_back(static_cast<uint8_t>(static_cast<unsigned char>(c) >> 5));
    out.push_back(0);
    for (char c : hrp)
        out.push_back(static_cast<uint8_t>(static_cast<unsigned char>(c) & 31));
    return out;
}

// Regroups bits: 8 -> 5 with padding, or 5 -> 8 refusing padding that is not zero or a whole group.
bool convert_bits(const std::vector<uint8_t>& in, int from, int to, bool pad, std::vector<uint8_t>& out)
{
    uint32_t acc = 0;
    int bits = 0;
    const uint32_t maxv = (1U << to) - 1;
    for (uint8_t v : in) {
        acc = (acc << from) | v;
        bits += from;
        while (bits >= to) {
            bits -= to;
            out.push_back(static_cast<uint8_t>((acc >> bits) & maxv));
        }
    }
    if (pad) {
        if (bits > 0)
            out.push_back(static_cast<uint8_t>((acc << (to - bits)) & maxv));
    } else if (bits >= from || ((acc << (to - bits)) & maxv) != 0) {
        return false;
    }
    return true;
}

// ---- OpenSSL primitives ----------------------------------------------------------------------------------

bool hkdf_sha256(
    const uint8_t* ikm, size_t ikm_len, const uint8_t* salt, size_t salt_len, std::string_view info, uint8_t* out)
{
    // Fetched once: OpenSSL 3 looks an algorithm up in its providers, under a lock, on every fetch.
    static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
    if (ctx == nullptr)
        return false;
    OSSL_PARAM params[5];
    OSSL_PARAM* p = params;
    char digest[] = "SHA256";
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm), ikm_len);
    if (salt_len > 0)  // RFC 5869: an absent salt is HashLen zeros, which HMAC treats as the empty key
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt), salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(bytes_of(info)), info.size());
    *p = OSSL_PARAM_construct_end();
    const bool ok = EVP_KDF_derive(ctx, out, k_key_bytes, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok;
}

bool scrypt_key(const std::string& passphrase, const std::vector<uint8_t>& salt, int log_n, uint8_t* out)
{
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
    EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
    EVP_KDF_free(kdf);
    if (ctx == nullptr)
        return false;
    uint64_t n = uint64_t{1} << log_n;
    uint32_t r = 8;
    uint32_t p_par = 1;
    uint64_t maxmem = 130 * n * r + (uint64_t{1} << 20);  // 128·N·r for V, plus the small buffers
    OSSL_PARAM params[7];
    OSSL_PARAM* p = params;
    *p++ = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(passphrase.data()), passphrase.size());
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size());
    *p++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
    *p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
    *p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p_par);
    *p++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
    *p = OSSL_PARAM_construct_end();
    const bool ok = EVP_KDF_derive(ctx, out, k_key_bytes, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok;
}

bool hmac_sha256(const uint8_t* key, const uint8_t* data, size_t len, uint8_t* out)
{
    unsigned out_len = 0;
    return HMAC(EVP_sha256(), key, static_cast<int>(k_key_bytes), data, len, out, &out_len) != nullptr &&
        out_len == k_key_bytes;
}

// Compares in time independent of where the bytes differ.
bool equal_in_constant_time(const uint8_t* a, const uint8_t* b, size_t len)
{
    uint8_t diff = 0;
    for (size_t i = 0; i < len; ++i)
        diff |= static_cast<uint8_t>(a[i] ^ b[i]);
    return diff == 0;
}

EVP_PKEY* x25519_private(const uint8_t* secret)
{
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret, k_key_bytes);
}

bool x25519_public(const uint8_t* secret, uint8_t* out)
{
    EVP_PKEY* key = x25519_private(secret);
    size_t len = k_key_bytes;
    const bool ok = key != nullptr && EVP_PKEY_get_raw_public_key(key, out, &len) == 1 && len == k_key_bytes;
    EVP_PKEY_free(key);
    return ok;
}

// X25519(key's secret, peer); false also when the result is all zeros (a low-order peer share).
bool x25519_derive(EVP_PKEY* key, const uint8_t* peer_public, uint8_t* out)
{
    EVP_PKEY* peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public, k_key_bytes);
    EVP_PKEY_CTX* ctx = key != nullptr ? EVP_PKEY_CTX_new(key, nullptr) : nullptr;
    size_t len = k_key_bytes;
    bool ok = ctx != nullptr && peer != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
        EVP_PKEY_derive_set_peer(ctx, peer) == 1 && EVP_PKEY_derive(ctx, out, &len) == 1 && len == k_key_bytes;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    if (ok) {
        uint8_t any = 0;
        for (size_t i = 0; i < k_key_bytes; ++i)
            any |= out[i];
        ok = any != 0;
    }
    return ok;
}

bool x25519_shared(const uint8_t* secret, const uint8_t* peer_public, uint8_t* out)
{
    EVP_PKEY* key = x25519_private(secret);
    const bool ok = x25519_derive(key, peer_public, out);
    EVP_PKEY_free(key);
    return ok;
}

// An ephemeral share for a recipient and the shared secret with it, from one key object: OpenSSL computes the
// public share when the key is made, so making it once saves a scalar multiplication per recipient.
bool x25519_ephemeral(const uint8_t* secret, const uint8_t* peer_public, uint8_t* share, uint8_t* shared)
{
    EVP_PKEY* key = x25519_private(secret);
    size_t len = k_key_bytes;
    const bool ok = key != nullptr && EVP_PKEY_get_raw_public_key(key, share, &len) == 1 && len == k_key_bytes &&
        x25519_derive(key, peer_public, shared);
    EVP_PKEY_free(key);
    return ok;
}

Status openssl_failure(const char* what)
{
    return Status::error(Code::io_error, std::string("could not ") + what + " with OpenSSL's libcrypto");
}

Status corrupt(const std::string& what)
{
    return Status::error(Code::corrupt, "age file: " + what);
}

void wipe(std::vector<uint8_t>& v)
{
    if (!v.empty())
        OPENSSL_cleanse(v.data(), v.size());
    v.clear();
}

bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

std::vector<std::string_view> split(std::string_view text, char sep)
{
    std::vector<std::string_view> out;
    size_t start = 0;
    for (;;) {
        const size_t pos = text.find(sep, start);
        out.push_back(text.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
        if (pos == std::string_view::npos)
            return out;
        start = pos + 1;
    }
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// A stanza of the header: its arguments and its decoded body.
struct Stanza {
    std::vector<std::string> args;
    std::vector<uint8_t> body;
};

void append(std::vector<uint8_t>& out, std::string_view s)
{
    out.insert(out.end(), s.begin(), s.end());
}

void append_stanza(std::vector<uint8_t>& out, const std::vector<std::string>& args, const uint8_t* body, size_t len)
{
    append(out, "->");
    for (const std::string& a : args) {
        append(out, " ");
        append(out, a);
    }
    append(out, "\n");
    const std::string b64 = age_base64_encode(body, len);
    // Full 64-column lines, then a shorter final line (empty when the body fills whole lines).
    size_t pos = 0;
    for (; b64.size() - pos >= k_body_columns; pos += k_body_columns) {
        append(out, std::string_view(b64).substr(pos, k_body_columns));
        append(out, "\n");
    }
    append(out, std::string_view(b64).substr(pos));
    append(out, "\n");
}

// Parses the header text (ending with the MAC line's LF) into stanzas and the MAC; mac_input is the header up
// to and including "---".
Status parse_header(
    std::string_view header, std::vector<Stanza>& stanzas, std::vector<uint8_t>& mac, size_t& mac_input_len)
{
    std::vector<std::string_view> lines = split(header, '\n');
    // split() leaves an empty piece after the final LF
    if (lines.size() < 2 || !lines.back().empty())
        return corrupt("header does not end with a line feed");
    lines.pop_back();
    if (lines[0] != k_version_line)
        return corrupt("unsupported version line (walvault reads age-encryption.org/v1)");
    size_t i = 1;
    while (i < lines.size() && lines[i].starts_with("-> ")) {
        Stanza st;
        for (std::string_view arg : split(lines[i].substr(3), ' ')) {
            if (arg.empty() || !std::all_of(arg.begin(), arg.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
                return corrupt("malformed stanza arguments on header line " + std::to_string(i + 1));
            st.args.emplace_back(arg);
        }
        ++i;
        std::string b64;
        for (;;) {
            if (i >= lines.size())
                return corrupt("header ends inside a stanza");
            std::string_view line = lines[i++];
            if (line.size() > k_body_columns || !std::all_of(line.begin(), line.end(), is_base64_char))
                return corrupt("malformed stanza body on header line " + std::to_string(i));
            b64 += line;
            if (line.size() < k_body_columns)
                break;
        }
        if (!age_base64_decode(b64, st.body))
            return corrupt("stanza body is not canonical base64");
        stanzas.push_back(std::move(st));
    }
    if (stanzas.empty())
        return corrupt("header has no recipient stanza");
    if (i + 1 != lines.size() || !lines[i].starts_with("--- "))
        return corrupt("malformed header: expected the MAC line on header line " + std::to_string(i + 1));
    if (!age_base64_decode(lines[i].substr(4), mac) || mac.size() != k_key_bytes)
        return corrupt("malformed header MAC");
    mac_input_len = static_cast<size_t>(lines[i].data() - header.data()) + 3;
    return Status::ok();
}

bool strict_decimal(std::string_view s, int& out)
{
    if (s.empty() || s.size() > 2 || s[0] < '1' || s[0] > '9')
        return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

}  // namespace

// ChaCha20-Poly1305 under one key, one context reused for every chunk.
class AgeCrypto {
public:
    AgeCrypto()
        : m_ctx(EVP_CIPHER_CTX_new())
    {
        if (m_ctx == nullptr)
            throw std::runtime_error("could not set up ChaCha20-Poly1305 with OpenSSL's libcrypto");
    }
    ~AgeCrypto() { EVP_CIPHER_CTX_free(m_ctx); }
    AgeCrypto(const AgeCrypto&) = delete;
    AgeCrypto& operator=(const AgeCrypto&) = delete;

    // Seals in[0, len) under key and nonce into out (len + 16 bytes).
    bool seal(const uint8_t* key, const uint8_t* nonce, const uint8_t* in, size_t len, uint8_t* out)
    {
        int n = 0;
        int tail = 0;
        return EVP_EncryptInit_ex(m_ctx, cipher(), nullptr, key, nonce) == 1 &&
            (len == 0 || EVP_EncryptUpdate(m_ctx, out, &n, in, static_cast<int>(len)) == 1) &&
            EVP_EncryptFinal_ex(m_ctx, out + n, &tail) == 1 &&
            EVP_CIPHER_CTX_ctrl(m_ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(k_age_tag_bytes), out + len) == 1;
    }

    // Opens in[0, len) (ciphertext and tag) into out (len - 16 bytes); false when the tag does not match.
    bool open(const uint8_t* key, const uint8_t* nonce, const uint8_t* in, size_t len, uint8_t* out)
    {
        if (len < k_age_tag_bytes)
            return false;
        const size_t text = len - k_age_tag_bytes;
        int n = 0;
        int tail = 0;
        return EVP_DecryptInit_ex(m_ctx, cipher(), nullptr, key, nonce) == 1 &&
            (text == 0 || EVP_DecryptUpdate(m_ctx, out, &n, in, static_cast<int>(text)) == 1) &&
            EVP_CIPHER_CTX_ctrl(m_ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(k_age_tag_bytes),
                const_cast<uint8_t*>(in + text)) == 1 &&
            EVP_DecryptFinal_ex(m_ctx, out + n, &tail) == 1;
    }

    // The STREAM nonce of a payload chunk: 11-byte big-endian counter, then the last-chunk flag.
    static std::array<uint8_t, 12> chunk_nonce(uint64_t counter, bool last)
    {
        std::array<uint8_t, 12> nonce{};
        for (int i = 0; i < 8; ++i)
            nonce[10 - i] = static_cast<uint8_t>(counter >> (8 * i));
        nonce[11] = last ? 1 : 0;
        return nonce;
    }

    std::array<uint8_t, 32> payload_key{};

private:
    // ChaCha20-Poly1305, fetched once (EVP_chacha20_poly1305() makes every init fetch it again).
    static const EVP_CIPHER* cipher()
    {
        static EVP_CIPHER* const fetched = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
        return fetched != nullptr ? fetched : EVP_chacha20_poly1305();
    }

    EVP_CIPHER_CTX* m_ctx;
};

// ---- bech32, base64 --------------------------------------------------------------------------------------

std::string bech32_encode(std::string_view hrp, const std::vector<uint8_t>& data)
{
    std::vector<uint8_t> values;
    (void)convert_bits(data, 8, 5, true, values);  // with padding it cannot fail
    std::vector<uint8_t> check = bech32_hrp_expand(hrp);
    check.insert(check.end(), values.begin(), values.end());
    check.insert(check.end(), 6, 0);
    const uint32_t mod = bech32_polymod(check) ^ 1;
    for (int i = 0; i < 6; ++i)
        values.push_back(static_cast<uint8_t>((mod >> (5 * (5 - i))) & 31));
    std::string out(hrp);
    out += '1';
    for (uint8_t v : values)
        out += k_bech32_charset[v];
    return out;
}

Status bech32_decode(std::string_view text, std::string& hrp, std::vector<uint8_t>& data)
{
    bool lower = false;
    bool upper = false;
    for (char c : text) {
        if (c < 33 || c > 126)
            return Status::error(Code::invalid, "not a bech32 string: it has a character outside the alphabet");
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
    }
    if (lower && upper)
        return Status::error(Code::invalid, "not a bech32 string: it mixes upper and lower case");
    std::string s(text);
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t sep = s.rfind('1');
    if (sep == std::string::npos || sep == 0 || sep + 7 > s.size())
        return Status::error(Code::invalid, "not a bech32 string: no separator or too short");
    hrp = s.substr(0, sep);
    std::vector<uint8_t> values;
    for (size_t i = sep + 1; i < s.size(); ++i) {
        const char* pos = std::strchr(k_bech32_charset, s[i]);
        if (pos == nullptr || s[i] == '\0')
            return Status::error(Code::invalid, "not a bech32 string: it has a character outside the alphabet");
        values.push_back(static_cast<uint8_t>(pos - k_bech32_charset));
    }
    std::vector<uint8_t> check = bech32_hrp_expand(hrp);
    check.insert(check.end(), values.begin(), values.end());
    if (bech32_polymod(check) != 1)
        return Status::error(Code::invalid, "bech32 checksum mismatch (a mistyped or truncated key)");
    values.resize(values.size() - 6);
    data.clear();
    if (!convert_bits(values, 5, 8, false, data))
        return Status::error(Code::invalid, "bech32 data has invalid padding");
    return Status::ok();
}

std::string age_base64_encode(const uint8_t* data, size_t len)
{
    std::string out;
    out.reserve((len * 4 + 2) / 3);
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
        for (int s = 18; s >= 0; s -= 6)
            out += k_base64_chars[(v >> s) & 63];
    }
    if (len - i == 1) {
        const uint32_t v = uint32_t{data[i]} << 16;
        out += k_base64_chars[(v >> 18) & 63];
        out += k_base64_chars[(v >> 12) & 63];
    } else if (len - i == 2) {
        const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
        out += k_base64_chars[(v >> 18) & 63];
        out += k_base64_chars[(v >> 12) & 63];
        out += k_base64_chars[(v >> 6) & 63];
    }
    return out;
}

bool age_base64_decode(std::string_view text, std::vector<uint8_t>& out)
{
    out.clear();
    if (text.size() % 4 == 1)
        return false;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const char* pos = std::strchr(k_base64_chars, c);
        if (c == '\0' || pos == nullptr)
            return false;
        acc = (acc << 6) | static_cast<uint32_t>(pos - k_base64_chars);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
        }
    }
    // RFC 4648 3.5: the unused bits of the last character are zero in canonical text
    return (acc & ((1U << bits) - 1)) == 0;
}

// ---- recipients and identities ---------------------------------------------------------------------------

AgeIdentity::~AgeIdentity()
{
    OPENSSL_cleanse(secret.data(), secret.size());
    if (!passphrase.empty())
        OPENSSL_cleanse(passphrase.data(), passphrase.size());
}

Status parse_age_recipient(std::string_view text, AgeRecipient& out)
{
    text = trim(text);
    std::string hrp;
    std::vector<uint8_t> data;
    if (text.size() > 15 && (text.starts_with("AGE-SECRET-KEY-") || text.starts_with("age-secret-key-")))
        return Status::error(Code::invalid, "an age identity (secret key) was given where a recipient was expected",
            "Give the recipient (public key, \"age1...\") that age-keygen -y prints for the identity.");
    if (Status s = bech32_decode(text, hrp, data); !s.is_ok())
        return Status::error(Code::invalid, "invalid age recipient \"" + std::string(text) + "\": " + s.message(),
            "A recipient is an X25519 public key as age-keygen prints it, \"age1\" and 58 more characters.");
    if (hrp != k_recipient_hrp || data.size() != k_key_bytes)
        return Status::error(Code::invalid,
            "invalid age recipient \"" + std::string(text) + "\": not an X25519 recipient (\"age1...\")",
            "walvault encrypts to X25519 recipients only, as age-keygen makes them.");
    std::copy(data.begin(), data.end(), out.key.begin());
    out.text = bech32_encode(k_recipient_hrp, data);
    return Status::ok();
}

Status parse_age_recipients(std::string_view list, std::vector<AgeRecipient>& out)
{
    out.clear();
    if (trim(list).empty())
        return Status::ok();
    for (std::string_view item : split(list, ',')) {
        if (trim(item).empty())
            return Status::error(Code::invalid, "empty item in the list of age recipients",
                "Separate the recipients with single commas.");
        AgeRecipient r;
        if (Status s = parse_age_recipient(item, r); !s.is_ok())
            return s;
        if (std::none_of(out.begin(), out.end(), [&](const AgeRecipient& o) { return o.text == r.text; }))
            out.push_back(std::move(r));
    }
    return Status::ok();
}

Status parse_age_identities(std::string_view contents, std::vector<AgeIdentity>& out)
{
    out.clear();
    if (looks_like_age(bytes_of(contents), contents.size()))
        return Status::error(Code::invalid, "the identity file is itself an encrypted age file",
            "Decrypt it first and pass the identities on standard input with --encryption-identity-file -.");
    size_t line_no = 0;
    for (std::string_view line : split(contents, '\n')) {
        ++line_no;
        line = trim(line);
        if (line.empty() || line.front() == '#')
            continue;
        std::string hrp;
        std::vector<uint8_t> data;
        const Status s = bech32_decode(line, hrp, data);
        if (!s.is_ok() || hrp != k_identity_hrp || data.size() != k_key_bytes) {
            wipe(data);
            std::string why = !s.is_ok()          ? s.message()
                : line.starts_with("AGE-PLUGIN-") ? "plugin identities are not supported"
                                                  : "not an X25519 identity (\"AGE-SECRET-KEY-1...\")";
            return Status::error(Code::invalid, "line " + std::to_string(line_no) + " of the identity file: " + why,
                "An identity file holds the lines age-keygen writes: identities, comments beginning with \"#\" "
                "and blank lines.");
        }
        AgeIdentity id;
        std::copy(data.begin(), data.end(), id.secret.begin());
        wipe(data);
        if (!x25519_public(id.secret.data(), id.public_key.data()))
            return openssl_failure("compute an X25519 public key");
        out.push_back(std::move(id));
    }
    if (out.empty())
        return Status::error(Code::invalid, "the identity file holds no identity",
            "Write the identity that age-keygen printed (\"AGE-SECRET-KEY-1...\") into it.");
    return Status::ok();
}

AgeIdentity age_passphrase_identity(std::string passphrase)
{
    AgeIdentity id;
    id.kind = AgeIdentity::Kind::passphrase;
    id.passphrase = std::move(passphrase);
    return id;
}

Status read_age_identity_file(const std::string& path, std::vector<AgeIdentity>& out)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(Code::invalid, "could not open identity file \"" + path + "\": " + errno_text(errno));
    struct stat st { };
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::error(Code::invalid, "identity file \"" + path + "\" is not a regular file");
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        ::close(fd);
        return Status::error(Code::invalid,
            "identity file \"" + path + "\" is accessible by its group or others (mode " +
                std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                std::to_string(st.st_mode & 7) + ")",
            "Run: chmod 600 \"" + path + "\"; a secret key that others can read is refused.");
    }
    std::string contents;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            OPENSSL_cleanse(contents.data(), contents.size());
            return Status::error(Code::io_error, "could not read identity file \"" + path + "\": " + errno_text(err));
        }
        if (n == 0)
            break;
        contents.append(buf, static_cast<size_t>(n));
        if (contents.size() > k_max_identity_file_bytes) {
            ::close(fd);
            OPENSSL_cleanse(contents.data(), contents.size());
            return Status::error(Code::invalid, "identity file \"" + path + "\" is larger than 1 MiB");
        }
    }
    ::close(fd);
    OPENSSL_cleanse(buf, sizeof buf);
    Status s = parse_age_identities(contents, out);
    OPENSSL_cleanse(contents.data(), contents.size());
    if (!s.is_ok())
        s.prefix("identity file \"" + path + "\"");
    return s;
}

AgeRecipient age_recipient_of(const AgeIdentity& identity)
{
    AgeRecipient r;
    r.key = identity.public_key;
    r.text = bech32_encode(k_recipient_hrp, std::vector<uint8_t>(r.key.begin(), r.key.end()));
    return r;
}

std::string age_identity_text(const AgeIdentity& identity)
{
    std::string s = bech32_encode(k_identity_hrp, std::vector<uint8_t>(identity.secret.begin(), identity.secret.end()));
    for (char& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

Status age_generate_identity(AgeIdentity& out)
{
    out = AgeIdentity{};
    if (RAND_bytes(out.secret.data(), static_cast<int>(out.secret.size())) != 1 ||
        !x25519_public(out.secret.data(), out.public_key.data()))
        return openssl_failure("generate an X25519 key");
    return Status::ok();
}

std::string age_recipient_fingerprint(const AgeRecipient& recipient)
{
    return sha256_hex(bytes_of(recipient.text), recipient.text.size()).substr(0, k_age_fingerprint_chars);
}

bool looks_like_age(const uint8_t* data, size_t len)
{
    return len >= k_version_prefix.size() && std::memcmp(data, k_version_prefix.data(), k_version_prefix.size()) == 0;
}

Status read_age_note(const uint8_t* data, size_t len, AgeNote& out, bool& found)
{
    out = AgeNote{};
    found = false;
    if (!looks_like_age(data, len))
        return corrupt("not an age file");
    const std::string_view text(reinterpret_cast<const char*>(data), std::min(len, k_age_max_header_bytes));
    const size_t mark = text.find("\n--- ");
    const size_t end = mark == std::string_view::npos ? mark : text.find('\n', mark + 1);
    if (end == std::string_view::npos)
        return corrupt("the header does not end within " + std::to_string(k_age_max_header_bytes) + " bytes");
    std::vector<Stanza> stanzas;
    std::vector<uint8_t> mac;
    size_t mac_input_len = 0;
    if (Status s = parse_header(text.substr(0, end + 1), stanzas, mac, mac_input_len); !s.is_ok())
        return s;
    for (const Stanza& st : stanzas) {
        if (st.args[0] != k_note_type)
            continue;
        bool has_length = false;
        for (size_t i = 1; i < st.args.size(); ++i) {
            const std::string_view arg = st.args[i];
            if (arg.starts_with("r=")) {
                for (std::string_view fp : split(arg.substr(2), ','))
                    if (!fp.empty())
                        out.recipients.emplace_back(fp);
            } else if (arg.starts_with("n=")) {
                const std::string_view digits = arg.substr(2);
                const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out.length);
                if (ec != std::errc() || p != digits.data() + digits.size())
                    return corrupt("malformed walvault stanza: bad length");
                has_length = true;
            } else if (arg.starts_with("x=")) {
                out.xxh3_128 = std::string(arg.substr(2));
            }  // other arguments: a later walvault's, ignored
        }
        out.has_content = has_length && !out.xxh3_128.empty();
        std::sort(out.recipients.begin(), out.recipients.end());
        found = true;
        return Status::ok();
    }
    return Status::ok();
}

// ---- encryption ------------------------------------------------------------------------------------------

AgeEncryptStage::AgeEncryptStage(std::vector<AgeRecipient> recipients)
    : m_recipients(std::move(recipients))
    , m_crypto(std::make_unique<AgeCrypto>())
{
    std::vector<std::string> fps;
    fps.reserve(m_recipients.size());
    for (const AgeRecipient& r : m_recipients)
        fps.push_back(age_recipient_fingerprint(r));
    std::sort(fps.begin(), fps.end());
    for (const std::string& fp : fps)
        m_fingerprints += (m_fingerprints.empty() ? "" : ",") + fp;
    // m_plain and m_sealed grow to a chunk only as the object does: most objects of a backup are a few kB,
    // and zero-filling 128 kB of fresh pages for each of them cost more than encrypting them.
}

AgeEncryptStage::~AgeEncryptStage()
{
    OPENSSL_cleanse(m_crypto->payload_key.data(), m_crypto->payload_key.size());
}

void AgeEncryptStage::set_content(uint64_t length, std::string xxh3_128)
{
    m_content.emplace(length, std::move(xxh3_128));
}

void AgeEncryptStage::begin(const ByteSink& next)
{
    m_next = next;
    m_state = Status::ok();
    m_header.clear();
    m_plain.clear();
    m_counter = 0;
    if (m_recipients.empty()) {
        m_state = Status::error(Code::invalid, "age encryption needs at least one recipient");
        return;
    }
    std::vector<uint8_t> file_key(k_file_key_bytes);
    if (RAND_bytes(file_key.data(), static_cast<int>(file_key.size())) != 1) {
        m_state = openssl_failure("draw a file key");
        return;
    }
    append(m_header, k_version_line);
    append(m_header, "\n");
    for (const AgeRecipient& r : m_recipients) {
        // "X25519 recipient stanza": a fresh ephemeral secret per stanza and file
        uint8_t eph_secret[k_key_bytes];
        uint8_t eph_share[k_key_bytes];
        uint8_t shared[k_key_bytes];
        uint8_t wrap_key[k_key_bytes];
        uint8_t salt[2 * k_key_bytes];
        uint8_t body[k_file_key_bytes + k_age_tag_bytes];
        const uint8_t zero_nonce[12] = {};
        bool ok = RAND_bytes(eph_secret, sizeof eph_secret) == 1 &&
            x25519_ephemeral(eph_secret, r.key.data(), eph_share, shared);
        if (ok) {
            std::memcpy(salt, eph_share, k_key_bytes);
            std::memcpy(salt + k_key_bytes, r.key.data(), k_key_bytes);
            ok = hkdf_sha256(shared, k_key_bytes, salt, sizeof salt, k_x25519_info, wrap_key) &&
                m_crypto->seal(wrap_key, zero_nonce, file_key.data(), file_key.size(), body);
        }
        OPENSSL_cleanse(eph_secret, sizeof eph_secret);
        OPENSSL_cleanse(shared, sizeof shared);
        OPENSSL_cleanse(wrap_key, sizeof wrap_key);
        if (!ok) {
            wipe(file_key);
            m_state = openssl_failure("wrap the file key for an X25519 recipient");
            return;
        }
        append_stanza(m_header, {"X25519", age_base64_encode(eph_share, k_key_bytes)}, body, sizeof body);
    }
    std::vector<std::string> note{std::string(k_note_type), "r=" + m_fingerprints};
    if (m_content) {
        note.push_back("n=" + std::to_string(m_content->first));
        note.push_back("x=" + m_content->second);
        m_content.reset();
    }
    append_stanza(m_header, note, nullptr, 0);
    // "Header MAC": HMAC-SHA-256 under HKDF(file key, "", "header") of the header through "---"
    append(m_header, "---");
    uint8_t mac_key[k_key_bytes];
    uint8_t mac[k_key_bytes];
    uint8_t nonce[k_nonce_bytes];
    const bool ok = hkdf_sha256(file_key.data(), file_key.size(), nullptr, 0, "header", mac_key) &&
        hmac_sha256(mac_key, m_header.data(), m_header.size(), mac) && RAND_bytes(nonce, sizeof nonce) == 1 &&
        hkdf_sha256(file_key.data(), file_key.size(), nonce, sizeof nonce, "payload", m_crypto->payload_key.data());
    OPENSSL_cleanse(mac_key, sizeof mac_key);
    wipe(file_key);
    if (!ok) {
        m_state = openssl_failure("derive the header MAC and the payload key");
        return;
    }
    append(m_header, " ");
    append(m_header, age_base64_encode(mac, sizeof mac));
    append(m_header, "\n");
    m_header.insert(m_header.end(), nonce, nonce + sizeof nonce);
}

Status AgeEncryptStage::flush_header()
{
    if (m_header.empty())
        return Status::ok();
    Status s = m_next(m_header.data(), m_header.size());
    m_header.clear();
    return s;
}

Status AgeEncryptStage::seal_chunk(bool last)
{
    const auto nonce = AgeCrypto::chunk_nonce(m_counter, last);
    if (m_sealed.size() < m_plain.size() + k_age_tag_bytes)
        m_sealed.resize(m_plain.size() + k_age_tag_bytes);
    if (!m_crypto->seal(m_crypto->payload_key.data(), nonce.data(), m_plain.data(), m_plain.size(), m_sealed.data()))
        return openssl_failure("encrypt a payload chunk");
    ++m_counter;
    Status s = m_next(m_sealed.data(), m_plain.size() + k_age_tag_bytes);
    m_plain.clear();
    return s;
}

Status AgeEncryptStage::update(const uint8_t* data, size_t len)
{
    if (!m_state.is_ok())
        return m_state;
    if (len > 0) {
        if (Status s = flush_header(); !s.is_ok())
            return m_state = s;
    }
    while (len > 0) {
        // A full chunk is sealed as not the last only once more bytes arrive: the last chunk may be full.
        if (m_plain.size() == k_age_chunk_bytes) {
            if (Status s = seal_chunk(false); !s.is_ok())
                return m_state = s;
        }
        const size_t take = std::min(len, k_age_chunk_bytes - m_plain.size());
        m_plain.insert(m_plain.end(), data, data + take);
        data += take;
        len -= take;
    }
    return Status::ok();
}

Status AgeEncryptStage::finish()
{
    if (!m_state.is_ok())
        return m_state;
    Status s = flush_header();
    if (s.is_ok())
        s = seal_chunk(true);
    OPENSSL_cleanse(m_crypto->payload_key.data(), m_crypto->payload_key.size());
    m_state = s.is_ok() ? Status::error(Code::invalid, "age encryption stage used after finish()") : s;
    return s;
}

// ---- decryption ------------------------------------------------------------------------------------------

AgeDecryptStage::AgeDecryptStage(std::vector<AgeIdentity> identities)
    : m_identities(std::move(identities))
    , m_crypto(std::make_unique<AgeCrypto>())
{
    m_plain.resize(k_age_chunk_bytes);
}

AgeDecryptStage::~AgeDecryptStage()
{
    OPENSSL_cleanse(m_crypto->payload_key.data(), m_crypto->payload_key.size());
    wipe(m_file_key);
    wipe(m_plain);
}

void AgeDecryptStage::begin(const ByteSink& next)
{
    m_next = next;
    m_phase = Phase::header;
    m_failure = Status::ok();
    m_in.clear();
    wipe(m_file_key);
    m_have_nonce = false;
    m_counter = 0;
    m_matched = 0;
}

Status AgeDecryptStage::fail(Status s)
{
    m_phase = Phase::failed;
    m_failure = s;
    wipe(m_file_key);
    OPENSSL_cleanse(m_crypto->payload_key.data(), m_crypto->payload_key.size());
    return s;
}

Status AgeDecryptStage::update(const uint8_t* data, size_t len)
{
    if (m_phase == Phase::failed)
        return m_failure;
    if (m_phase == Phase::payload)
        return feed_payload(data, len);
    // Header: gather lines until the MAC line is complete; refuse a plain object at once.
    const size_t before = m_in.size();
    const size_t take = std::min(len, k_age_max_header_bytes + 1 - before);
    m_in.insert(m_in.end(), data, data + take);
    const size_t check = std::min(m_in.size(), k_version_prefix.size());
    if (std::memcmp(m_in.data(), k_version_prefix.data(), check) != 0)
        return fail(Status::error(Code::corrupt, "not an age file: the stored bytes are not encrypted",
            "The repository holds encrypted objects only; this object was written without encryption or damaged."));
    // The header ends with the LF after "\n--- " (it arrives in one or a few updates: no need to resume a scan).
    const std::string_view text(reinterpret_cast<const char*>(m_in.data()), m_in.size());
    const size_t mark = text.find("\n--- ");
    const size_t end = mark == std::string_view::npos ? mark : text.find('\n', mark + 1);
    if (end == std::string_view::npos) {
        if (m_in.size() > k_age_max_header_bytes)
            return fail(corrupt("header longer than " + std::to_string(k_age_max_header_bytes) + " bytes"));
        return Status::ok();
    }
    const size_t header_len = end + 1;
    if (header_len > k_age_max_header_bytes)
        return fail(corrupt("header longer than " + std::to_string(k_age_max_header_bytes) + " bytes"));
    // Bytes past the header: those of this update() not yet copied, and those copied after the header.
    std::vector<uint8_t> rest(m_in.begin() + static_cast<std::ptrdiff_t>(header_len), m_in.end());
    m_in.resize(header_len);
    if (Status s = take_header(); !s.is_ok())
        return fail(s);
    m_in.clear();
    m_phase = Phase::payload;
    if (Status s = feed_payload(rest.data(), rest.size()); !s.is_ok())
        return s;
    return feed_payload(data + take, len - take);
}

Status AgeDecryptStage::take_header()
{
    const std::string_view header(reinterpret_cast<const char*>(m_in.data()), m_in.size());
    std::vector<Stanza> stanzas;
    std::vector<uint8_t> mac;
    size_t mac_input_len = 0;
    if (Status s = parse_header(header, stanzas, mac, mac_input_len); !s.is_ok())
        return s;
    const bool has_scrypt =
        std::any_of(stanzas.begin(), stanzas.end(), [](const Stanza& st) { return st.args[0] == "scrypt"; });
    if (has_scrypt && stanzas.size() != 1)  // "An scrypt stanza, if present, MUST be the only stanza"
        return corrupt("an scrypt stanza is mixed with other stanzas");
    const uint8_t zero_nonce[12] = {};
    std::vector<uint8_t> file_key(k_file_key_bytes);
    bool opened = false;
    for (size_t i = 0; i < m_identities.size() && !opened; ++i) {
        const AgeIdentity& id = m_identities[i];
        for (const Stanza& st : stanzas) {
            uint8_t wrap_key[k_key_bytes];
            if (id.kind == AgeIdentity::Kind::x25519 && st.args[0] == "X25519") {
                std::vector<uint8_t> share;
                if (st.args.size() != 2 || !age_base64_decode(st.args[1], share) || share.size() != k_key_bytes ||
                    st.body.size() != k_file_key_bytes + k_age_tag_bytes)
                    return corrupt("malformed X25519 stanza");
                uint8_t shared[k_key_bytes];
                if (!x25519_shared(id.secret.data(), share.data(), shared))
                    return corrupt("X25519 stanza with an invalid ephemeral share");
                uint8_t salt[2 * k_key_bytes];
                std::memcpy(salt, share.data(), k_key_bytes);
                std::memcpy(salt + k_key_bytes, id.public_key.data(), k_key_bytes);
                const bool ok = hkdf_sha256(shared, k_key_bytes, salt, sizeof salt, k_x25519_info, wrap_key);
                OPENSSL_cleanse(shared, sizeof shared);
                if (!ok)
                    return openssl_failure("derive an X25519 wrap key");
            } else if (id.kind == AgeIdentity::Kind::passphrase && st.args[0] == "scrypt") {
                std::vector<uint8_t> salt;
                int log_n = 0;
                if (st.args.size() != 3 || !age_base64_decode(st.args[1], salt) || salt.size() != 16 ||
                    !strict_decimal(st.args[2], log_n) || st.body.size() != k_file_key_bytes + k_age_tag_bytes)
                    return corrupt("malformed scrypt stanza");
                if (log_n > k_age_max_scrypt_log_n)
                    return corrupt("scrypt work factor 2^" + std::to_string(log_n) + " is above the limit of 2^" +
                        std::to_string(k_age_max_scrypt_log_n));
                std::vector<uint8_t> full_salt(
                    bytes_of(k_scrypt_salt_label), bytes_of(k_scrypt_salt_label) + k_scrypt_salt_label.size());
                full_salt.insert(full_salt.end(), salt.begin(), salt.end());
                if (!scrypt_key(id.passphrase, full_salt, log_n, wrap_key))
                    return openssl_failure("derive an scrypt wrap key");
            } else {
                continue;  // "MUST ignore unrecognized stanzas"
            }
            opened = m_crypto->open(wrap_key, zero_nonce, st.body.data(), st.body.size(), file_key.data());
            OPENSSL_cleanse(wrap_key, sizeof wrap_key);
            if (opened) {
                m_matched = i;
                break;
            }
        }
    }
    if (!opened) {
        wipe(file_key);
        return Status::error(Code::invalid, "no identity in the identity file matches this encrypted object",
            "The object was encrypted to other recipients: add the identity of one of them to the identity file "
            "(encryption_identity_file).");
    }
    uint8_t mac_key[k_key_bytes];
    uint8_t want[k_key_bytes];
    const bool ok = hkdf_sha256(file_key.data(), file_key.size(), nullptr, 0, "header", mac_key) &&
        hmac_sha256(mac_key, m_in.data(), mac_input_len, want);
    OPENSSL_cleanse(mac_key, sizeof mac_key);
    if (!ok) {
        wipe(file_key);
        return openssl_failure("compute the header MAC");
    }
    if (!equal_in_constant_time(want, mac.data(), k_key_bytes)) {
        wipe(file_key);
        return corrupt("header MAC mismatch (the header was altered)");
    }
    m_file_key = std::move(file_key);
    return Status::ok();
}

Status AgeDecryptStage::open_chunk(bool last)
{
    const auto nonce = AgeCrypto::chunk_nonce(m_counter, last);
    if (!m_crypto->open(m_crypto->payload_key.data(), nonce.data(), m_in.data(), m_in.size(), m_plain.data()))
        return Status::error(Code::corrupt, "");  // the caller names the failure
    const size_t n = m_in.size() - k_age_tag_bytes;
    if (last && n == 0 && m_counter > 0)
        return corrupt("empty final chunk after " + std::to_string(m_counter) + " chunks");
    ++m_counter;
    m_in.clear();
    return n > 0 ? m_next(m_plain.data(), n) : Status::ok();
}

Status AgeDecryptStage::feed_payload(const uint8_t* data, size_t len)
{
    while (len > 0) {
        if (!m_have_nonce) {
            const size_t take = std::min(len, k_nonce_bytes - m_in.size());
            m_in.insert(m_in.end(), data, data + take);
            data += take;
            len -= take;
            if (m_in.size() == k_nonce_bytes) {
                const bool ok = hkdf_sha256(m_file_key.data(), m_file_key.size(), m_in.data(), k_nonce_bytes, "payload",
                    m_crypto->payload_key.data());
                wipe(m_file_key);
                if (!ok)
                    return fail(openssl_failure("derive the payload key"));
                m_in.clear();
                m_have_nonce = true;
            }
            continue;
        }
        // A full chunk is opened as not the last only once more bytes follow it.
        if (m_in.size() == k_cipher_chunk_bytes) {
            Status s = open_chunk(false);
            if (!s.is_ok() && s.message().empty()) {
                if (open_chunk(true).is_ok())
                    return fail(corrupt("data after the final chunk"));
                return fail(corrupt("chunk " + std::to_string(m_counter) +
                    " fails authentication (damaged, reordered or from another file)"));
            }
            if (!s.is_ok())
                return fail(s);
        }
        const size_t take = std::min(len, k_cipher_chunk_bytes - m_in.size());
        m_in.insert(m_in.end(), data, data + take);
        data += take;
        len -= take;
    }
    return Status::ok();
}

Status AgeDecryptStage::finish()
{
    if (m_phase == Phase::failed)
        return m_failure;
    if (m_phase == Phase::header)
        return fail(m_in.empty() ? corrupt("empty file") : corrupt("truncated header"));
    if (!m_have_nonce)
        return fail(corrupt("truncated: the payload nonce is incomplete"));
    if (m_in.empty())
        return fail(corrupt("truncated: the final chunk is missing"));
    if (m_in.size() < k_age_tag_bytes)
        return fail(corrupt("truncated chunk " + std::to_string(m_counter)));
    Status s = open_chunk(true);
    if (!s.is_ok() && s.message().empty()) {
        // A full chunk that opens as not the last: the file was cut at a chunk boundary.
        const std::string chunk = std::to_string(m_counter);
        s = m_in.size() == k_cipher_chunk_bytes && open_chunk(false).is_ok()
            ? corrupt("truncated: the final chunk is missing (the file ends after chunk " + chunk + ")")
            : corrupt("chunk " + chunk + " fails authentication (damaged, truncated, reordered or from another file)");
    }
    if (!s.is_ok())
        return fail(s);
    OPENSSL_cleanse(m_crypto->payload_key.data(), m_crypto->payload_key.size());
    m_phase = Phase::failed;
    m_failure = Status::error(Code::invalid, "age decryption stage used after finish()");
    return Status::ok();
}

}  // namespace walvault
