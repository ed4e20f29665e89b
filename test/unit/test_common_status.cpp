// Unit tests for core/common/status: how Status carries a code, message and hint, prefixing context onto
// a message, and the errno text used in messages.
#include "core/common/status.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace walvault {
namespace {

TEST(Status, DefaultIsOk)
{
    const Status s;
    EXPECT_TRUE(s.is_ok());
    EXPECT_EQ(s.code(), Code::ok);
    EXPECT_EQ(s.message(), "");
    EXPECT_EQ(s.hint(), "");
    EXPECT_TRUE(Status::ok().is_ok());
}

TEST(Status, ErrorCarriesCodeMessageAndHint)
{
    const Status s = Status::error(Code::conflict, "it clashes", "Do something else.");
    EXPECT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(), "it clashes");
    EXPECT_EQ(s.hint(), "Do something else.");
    EXPECT_EQ(Status::error(Code::busy, "x").hint(), "");
}

TEST(Status, PrefixAddsContext)
{
    Status s = Status::error(Code::io_error, "disk full", "Free space.");
    s.prefix("could not archive \"000000010000000000000003\"").prefix("walvault");
    EXPECT_EQ(s.message(), "walvault: could not archive \"000000010000000000000003\": disk full");
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.hint(), "Free space.");
}

TEST(ErrnoText, KnownErrors)
{
    EXPECT_EQ(errno_text(ENOENT), "No such file or directory");
    EXPECT_EQ(errno_text(ENOTDIR), "Not a directory");
    EXPECT_FALSE(errno_text(123456).empty());
}

}  // namespace
}  // namespace walvault
