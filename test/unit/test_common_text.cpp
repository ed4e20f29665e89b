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

}  // namespace
}  // namespace walvault
