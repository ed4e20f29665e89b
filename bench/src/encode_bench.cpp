// The codec's CPU cost alone: encode_file of one input file into a sink that discards, best of 7, with
// zstd:3 and none (bench/encode_ab.sh builds it against two trees).
#include "core/codec/codec.h"
#include <chrono>
#include <cstdio>
#include <string>
using namespace walvault;
int main(int argc, char** argv)
{
    const std::string path = argv[1];
    const int rounds = 7;
    for (const char* c : {"zstd:3", "none"}) {
        auto comp = Compression::parse(c, nullptr);
        Encoder enc(k_wal_frame_bytes);
        double best = 1e9;
        uint64_t out_bytes = 0;
        for (int r = 0; r < rounds; ++r) {
            EncodeResult res;
            uint64_t n = 0;
            auto t0 = std::chrono::steady_clock::now();
            Status s = encode_file(
                enc, *comp, path, "x",
                [&](const uint8_t*, size_t len) {
                    n += len;
                    return Status::ok();
                },
                res);
            double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (!s.is_ok()) {
                std::fprintf(stderr, "%s\n", s.message().c_str());
                return 1;
            }
            best = std::min(best, dt);
            out_bytes = n;
        }
        std::printf("%s %s: best of %d %.1f ms (%llu bytes out)\n", path.c_str(), c, rounds, best * 1000,
            (unsigned long long)out_bytes);
    }
}
