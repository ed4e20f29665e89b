// SHA-256 with OpenSSL's EVP interface (hardware-accelerated where the CPU has it).
#include "core/codec/sha256.h"

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
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open file \"" + path + "\": " + errno_text(errno));
    Sha256 h;
    std::vector<uint8_t> buf(k_file_chunk);
    length = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            ::close(fd);
            return Status::error(Code::io_error, "could not read file \"" + path + "\": " + errno_text(err));
        }
        if (n == 0)
            break;
        h.update(buf.data(), static_cast<size_t>(n));
        length += static_cast<uint64_t>(n);
    }
    ::close(fd);
    hex = h.finish_hex();
    return Status::ok();
}

}  // namespace walvault
