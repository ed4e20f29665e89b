// libcrcutil's CRC-32C. Its header needs SSE4.2, so this file alone is compiled with -msse4.2 (Makefile)
// and its functions are called only through crc32c.cpp, after the CPU check.
#if defined(__x86_64__)
#include <crcutil/crc32c_sse4.h>

#include <cstddef>
#include <cstdint>

namespace walvault::crc32c_sse42 {
namespace {

// Canonical: the CRC is inverted before and after, as CRC-32C is defined (check value 0xe3069283).
const crcutil::Crc32cSSE4& engine()
{
    static const crcutil::Crc32cSSE4 crc(true);
    return crc;
}

}  // namespace

uint32_t extend(uint32_t crc, const uint8_t* data, size_t len)
{
    return static_cast<uint32_t>(engine().CrcDefault(data, len, crc));
}

uint32_t concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return static_cast<uint32_t>(engine().Base().Concatenate(crc_a, crc_b, len_b));
}

}  // namespace walvault::crc32c_sse42
#endif
