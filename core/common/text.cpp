// Text helpers; see text.h.
#include "core/common/text.h"

#include <cstdio>

namespace walvault {

std::string_view trim(std::string_view s, std::string_view whitespace)
{
    const size_t b = s.find_first_not_of(whitespace);
    if (b == std::string_view::npos)
        return {};
    return s.substr(b, s.find_last_not_of(whitespace) - b + 1);
}

std::string to_lower_ascii(std::string_view s)
{
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string hex_encode(std::string_view bytes)
{
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(k_digits[c >> 4]);
        out.push_back(k_digits[c & 0xF]);
    }
    return out;
}

bool read_digits(std::string_view text, size_t& pos, size_t digits, int& value)
{
    if (pos + digits > text.size())
        return false;
    int v = 0;
    for (size_t i = 0; i < digits; ++i) {
        const char c = text[pos + i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    value = v;
    pos += digits;
    return true;
}

bool read_char(std::string_view text, size_t& pos, char expected)
{
    if (pos >= text.size() || text[pos] != expected)
        return false;
    ++pos;
    return true;
}

std::string format_bytes(uint64_t bytes)
{
    const char* units[] = {"B", "kiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

}  // namespace walvault
