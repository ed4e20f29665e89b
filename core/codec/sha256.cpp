// SHA-256 with OpenSSL's EVP interface (hardware-accelerated where the CPU has it).
#include "core/codec/sha256.h"

#include "core/common/file_io.h"
#include "core/common/text.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <vector>

#include <openssl/evp.h>

namespace walvault {
namespace {

constexpr size_t k_file_chunk = 1 << 20;

}  // namespace

Sha256::Sha256()
    : m_ctx(EVP_MD_CTX_new())
{
    if (m_ctx == nullptr || EVP_DigestInit_ex(m_ctx, EVP_sha256(), nullptr) != 1) {
        EVP_MD_CTX_free(m_ctx);
        throw std::runtime_error("could not set up SHA-256 with OpenSSL's libcrypto");
    }
}

Sha256::~Sha256()
{
    EVP_MD_CTX_free(m_ctx);
}

void Sha256::update(const uint8_t* data, size_t len)
{
    if (len > 0)
        EVP_DigestUpdate(m_ctx, data, len);
}

void Sha256::copy_from(const Sha256& other)
{
    if (EVP_MD_CTX_copy_ex(m_ctx, other.m_ctx) != 1)
        throw std::runtime_error("could not copy a SHA-256 state with OpenSSL's libcrypto");
}

std::string Sha256::finish_hex()
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(m_ctx, digest, &len);
    EVP_DigestInit_ex(m_ctx, EVP_sha256(), nullptr);
    return hex_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string sha256_hex(const uint8_t* data, size_t len)
{
    Sha256 h;
    h.update(data, len);
    return h.finish_hex();
}

Status sha256_file(const std::string& path, std::string& hex, uint64_t& length)
{
    Sha256 h;
    Status s = read_file_chunks(
        path, k_file_chunk,
        [&](const uint8_t* data, size_t len) {
            h.update(data, len);
            return Status::ok();
        },
        length);
    if (!s.is_ok())
        return s;
    hex = h.finish_hex();
    return Status::ok();
}

}  // namespace walvault
