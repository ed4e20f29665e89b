// Unit tests for core/common/text: trimming, ASCII case folding, hex.
#include "core/common/text.h"

#include <gtest/gtest.h>

namespace walvault {
namespace {

TEST(Text, Trim)
{
    EXPECT_EQ(trim("  a b \t\r\n"), "a b");
    EXPECT_EQ(trim("\v\fx\v"), "x");
    EXPECT_EQ(trim(" \t "), "");
    EXPECT_EQ(trim(""), "");
    EXPECT_EQ(trim("\vx\v", " \t\r\n"), "\vx\v");  // XML white space has no vertical tab
}

TEST(Text, LowerIsAsciiOnly)
{
    EXPECT_EQ(to_lower_ascii("Content-MD5: É"), "content-md5: É");
    EXPECT_EQ(to_lower_ascii("X-AMZ-DATE"), "x-amz-date");
}

TEST(Text, HexEncode)
{
    EXPECT_EQ(hex_encode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
    EXPECT_EQ(hex_encode(""), "");
}

TEST(Text, ReadDigitsAndChar)
{
    size_t pos = 0;
    int v = -1;
    EXPECT_TRUE(read_digits("2026-11", pos, 4, v));
    EXPECT_EQ(v, 2026);
    EXPECT_EQ(pos, 4u);
    EXPECT_TRUE(read_char("2026-11", pos, '-'));
    EXPECT_EQ(pos, 5u);
    EXPECT_FALSE(read_digits("2026-11", pos, 3, v));  // runs past the end: nothing changes
    EXPECT_EQ(pos, 5u);
    EXPECT_EQ(v, 2026);
    EXPECT_TRUE(read_digits("2026-11", pos, 2, v));
    EXPECT_EQ(v, 11);
    EXPECT_FALSE(read_char("2026-11", pos, '-'));  // at the end
    pos = 0;
    EXPECT_FALSE(read_digits("1a", pos, 2, v));
    EXPECT_FALSE(read_char("1a", pos, '-'));
    EXPECT_EQ(pos, 0u);
}

}  // namespace
}  // namespace walvault
