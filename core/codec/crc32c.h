// CRC-32C (Castagnoli), the checksum pg_basebackup gives backup_manifest by default. restore computes it
// while it writes a file stored in parts, one CRC per part on whichever worker writes that part, and
// combines them in file order: the whole file's checksum without reading the file back. From Debian's
// libcrcutil (SSE4.2 instructions); where the CPU lacks SSE4.2 or the build is not for x86-64,
// crc32c_available() is false and callers fall back to SHA-256.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace walvault {

// Whether the functions below may be called (checked once, at the first call).
bool crc32c_available();

// The CRC-32C of the bytes that gave crc (0 for none), followed by data.
uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t len);

// The CRC-32C of A followed by B, from the CRC-32C of each and B's length.
uint32_t crc32c_concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// The value as PostgreSQL's backup_manifest spells it: the hex of its bytes in memory order (pg_checksum_final
// copies the pg_crc32c out as it lies), so "839206e3" for 0xe3069283 on x86-64.
std::string crc32c_manifest_hex(uint32_t crc);

}  // namespace walvault
