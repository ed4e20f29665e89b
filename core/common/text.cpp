// Text helpers; see text.h.
#include "core/common/text.h"

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

}  // namespace walvault
