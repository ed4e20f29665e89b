// Small text helpers shared across core: trimming, ASCII case folding, hex. Locale-independent on purpose:
// protocol text (HTTP headers, XML, INI files, signatures) must not change with the server's locale.
#pragma once

#include "core/common/status.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace walvault {

constexpr std::string_view k_ascii_whitespace = " \t\r\n\v\f";

// s without leading and trailing characters from `whitespace`.
std::string_view trim(std::string_view s, std::string_view whitespace = k_ascii_whitespace);

// s with A-Z folded to a-z; other bytes unchanged.
std::string to_lower_ascii(std::string_view s);

// Lower-case hex of bytes: "\x01\xab" -> "01ab".
std::string hex_encode(std::string_view bytes);

// Parsing fixed-form text: reads exactly `digits` ASCII decimal digits at text[pos] into value, or the
// character `expected`; advances pos only on success.
bool read_digits(std::string_view text, size_t& pos, size_t digits, int& value);
bool read_char(std::string_view text, size_t& pos, char expected);

// A byte count for people: "1.5 GiB", "300.0 MiB", "12.0 kiB", "17 B".
std::string format_bytes(uint64_t bytes);

}  // namespace walvault
