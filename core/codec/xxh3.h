// Incremental XXH3-128 (xxHash, header-only): the cheap whole-content checksum that objects record beside
// their sha256, and the check of a directory repository's read-back. A checksum against damage, not against
// someone who can rewrite what it covers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace walvault {

class Xxh3Hash {
public:
    Xxh3Hash();  // throws std::bad_alloc without memory for its state (576 bytes)
    ~Xxh3Hash();
    Xxh3Hash(const Xxh3Hash&) = delete;
    Xxh3Hash& operator=(const Xxh3Hash&) = delete;

    void update(const uint8_t* data, size_t len);
    // Takes other's state: the digest of what other has hashed so far, to be continued.
    void copy_from(const Xxh3Hash& other);
    // Lower-case hex of the canonical (big-endian) digest, as `xxhsum -H2` prints it; the object starts over
    // afterwards.
    std::string finish_hex();

private:
    struct State;
    std::unique_ptr<State> m_state;
};

// Hex digest of a buffer.
std::string xxh3_128_hex(const uint8_t* data, size_t len);

}  // namespace walvault
