// The part of CRC-32C that runs on any CPU: the CPU check and the manifest's spelling. The libcrcutil calls
// are in crc32c_sse42.cpp, the one file compiled with -msse4.2, and are reached only after the check.
#include "core/codec/crc32c.h"

#include "core/common/text.h"

#include <cstring>

namespace walvault {

#if defined(__x86_64__)
namespace crc32c_sse42 {
uint32_t extend(uint32_t crc, const uint8_t* data, size_t len);
uint32_t concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
}  // namespace crc32c_sse42

bool crc32c_available()
{
    static const bool available = __builtin_cpu_supports("sse4.2");
    return available;
}

uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t len)
{
    return crc32c_sse42::extend(crc, data, len);
}

uint32_t crc32c_concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return crc32c_sse42::concat(crc_a, crc_b, len_b);
}
#else
bool crc32c_available()
{
    return false;
}

uint32_t crc32c_extend(uint32_t, const uint8_t*, size_t)
{
    return 0;
}

uint32_t crc32c_concat(uint32_t, uint32_t, uint64_t)
{
    return 0;
}
#endif

std::string crc32c_manifest_hex(uint32_t crc)
{
    char bytes[sizeof(crc)];
    std::memcpy(bytes, &crc, sizeof(crc));
    return hex_encode(std::string(bytes, sizeof(bytes)));
}

}  // namespace walvault
