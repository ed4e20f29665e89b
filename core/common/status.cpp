// Thread-safe errno text for messages built on worker threads.
#include "core/common/status.h"

#include <cstring>

namespace walvault {

std::string errno_text(int err)
{
    char buf[256];
    // GNU strerror_r returns a pointer that may or may not be buf.
    const char* text = strerror_r(err, buf, sizeof(buf));
    return text ? std::string(text) : std::string("unknown error");
}

}  // namespace walvault
