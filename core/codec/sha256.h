// Incremental SHA-256 through OpenSSL EVP; the checksum that the repository records for every object.
#pragma once

#include "core/common/status.h"

#include <cstddef>
#include <cstdint>
#include <string>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace walvault {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const uint8_t* data, size_t len);
    // Takes other's state: the digest of what other has hashed so far, to be continued.
    void copy_from(const Sha256& other);
    // Lower-case hex digest; the object starts over afterwards.
    std::string finish_hex();

private:
    EVP_MD_CTX* m_ctx;
};

// Hex digest of a buffer.
std::string sha256_hex(const uint8_t* data, size_t len);

// Hex digest and length of a file, read in chunks.
Status sha256_file(const std::string& path, std::string& hex, uint64_t& length);

}  // namespace walvault
