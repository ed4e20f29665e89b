// ByteStage: one optional step of the object pipeline that turns a stream of bytes into another (a cipher on
// the way out, its decipher on the way in). Encoder and Decoder (core/codec/codec.h) take one in their stage
// slot, between the compressor and the stored bytes; the built-in steps (hashes, zstd frames, trailer) are
// theirs.
#pragma once

#include "core/common/byte_sink.h"
#include "core/common/status.h"

#include <cstddef>
#include <cstdint>

namespace walvault {

// Called once per chunk, never per byte. A stage may hold bytes back (a block, an authenticated chunk) until
// more arrive or finish(). One stage object handles one stream at a time and is reused: begin() starts over.
class ByteStage {
public:
    virtual ~ByteStage() = default;
    // Starts a stream whose output goes to next (which stays valid until finish() returns). Writes nothing:
    // a header, if the stage has one, goes out with the first update() or finish().
    virtual void begin(const ByteSink& next) = 0;
    // Takes the next chunk of input; an error from next is returned as is.
    virtual Status update(const uint8_t* data, size_t len) = 0;
    // Passes on what the stage still holds and ends its output. A check that needs the whole stream (an
    // authentication tag, a truncated input) fails here, as Code::corrupt.
    virtual Status finish() = 0;
};

}  // namespace walvault
