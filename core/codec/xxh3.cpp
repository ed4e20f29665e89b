// XXH3-128 from Debian's libxxhash-dev in its documented header-only mode: nothing to link, no symbol
// exported (the archive module shares the server's process). Where the CPU has AVX2 the update runs
// xxh3_avx2.cpp's copy, the one file compiled for it.
#include "core/codec/xxh3.h"

#include "core/common/text.h"

#include <new>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace walvault {

#if defined(__x86_64__)
namespace xxh3_avx2 {
void update(void* state, const void* data, size_t len);
}  // namespace xxh3_avx2

namespace {

bool avx2_available()
{
    static const bool available = __builtin_cpu_supports("avx2");
    return available;
}

}  // namespace
#endif

struct Xxh3Hash::State {
    XXH3_state_t* state = nullptr;
    ~State() { XXH3_freeState(state); }
};

Xxh3Hash::Xxh3Hash()
    : m_state(std::make_unique<State>())
{
    m_state->state = XXH3_createState();
    if (m_state->state == nullptr)
        throw std::bad_alloc();
    XXH3_128bits_reset(m_state->state);
}

Xxh3Hash::~Xxh3Hash() = default;

void Xxh3Hash::update(const uint8_t* data, size_t len)
{
    if (len == 0)
        return;
#if defined(__x86_64__)
    if (avx2_available()) {
        xxh3_avx2::update(m_state->state, data, len);
        return;
    }
#endif
    XXH3_128bits_update(m_state->state, data, len);
}

void Xxh3Hash::copy_from(const Xxh3Hash& other)
{
    XXH3_copyState(m_state->state, other.m_state->state);
}

std::string Xxh3Hash::finish_hex()
{
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(m_state->state));
    XXH3_128bits_reset(m_state->state);
    return hex_encode(std::string_view(reinterpret_cast<const char*>(canonical.digest), sizeof(canonical.digest)));
}

std::string xxh3_128_hex(const uint8_t* data, size_t len)
{
    Xxh3Hash h;
    h.update(data, len);
    return h.finish_hex();
}

}  // namespace walvault
