// Repository layout; see docs/repository-format.md for the whole picture.
#include "core/repo/layout.h"

#include "core/codec/codec.h"

namespace walvault {

std::string wal_object_key(const WalName& name)
{
    if (name.kind == WalKind::history)
        return std::string(k_wal_prefix) + name.text + k_object_suffix;
    return std::string(k_wal_prefix) + name.text.substr(0, 16) + "/" + name.text + k_object_suffix;
}

}  // namespace walvault
