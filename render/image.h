// 8-bit images, decoding/encoding (stb) and atomic file writes. No GL here: usable from any thread.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace preimage::render {

// A user-facing IO error (corrupt image, unwritable path...), shown as one line.
class IoError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Row-major, top row first, `channels` interleaved bytes per pixel (1 = gray, 3 = RGB, 4 = RGBA).
struct Image {
    int width = 0, height = 0, channels = 0;
    std::vector<uint8_t> pixels;
    bool empty() const { return pixels.empty(); }
    uint8_t* at(int x, int y) { return &pixels[(size_t(y) * width + x) * channels]; }
    const uint8_t* at(int x, int y) const { return &pixels[(size_t(y) * width + x) * channels]; }
};

constexpr int kMaxImageSide = 16384;
// 64 Mpx: decoding one (stb's RGBA buffer, these bytes, the engine's float copy) stays near 1.3 GB.
constexpr int64_t kMaxImagePixels = int64_t(64) << 20;

// Decodes PNG, JPEG, BMP, GIF, PGM/PPM, PSD, HDR (by signature) and TGA (by extension) to 1 or 3 channels
// (alpha is composited on black). Throws IoError naming the file and the problem for a missing file, a
// folder, an empty, unrecognised, truncated (BMP pixel rows, JPEG end marker) or corrupt file, or an
// over-large one (> kMaxImageSide a side or > kMaxImagePixels), checking sizes from the header before any
// pixel is decoded.
Image loadImage(const std::string& path);
Image decodeImage(const uint8_t* data, size_t size, const std::string& name = "image");

std::vector<uint8_t> encodePng(const Image& image);
// The one list of image files every part of the tool opens (file pickers, drops, --data folders, samples):
// lower-case extensions with the dot, each one loadImage() decodes.
const std::vector<std::string>& imageExtensions();
bool isImageFile(const std::string& path);  // by extension, case-insensitive

// The one atomic writer: bytes go to a temporary file of a name of its own in the same directory (process,
// thread and a counter: two writers never share one), fsynced and renamed, so a reader never sees a half-written
// file; on any failure (a full disk, no permission) the temporary file is removed and IoError names the path and
// the first failing call's cause. Any thread (it blocks on the disk: not the UI thread). `durable` false skips the
// fsync (the rename stays atomic): for many small files whose folder is marked complete by one durable write last.
void writeFileAtomically(const std::string& path, const void* data, size_t size, bool durable = true);
void writeFileAtomically(const std::string& path, const std::string& text);
void savePng(const Image& image, const std::string& path);

Image toRgb(const Image& image);
Image toRgba(const Image& image);
// Nearest-neighbour upscale by an integer factor (small inputs stay crisp).
Image scaleNearest(const Image& image, int factor);

}  // namespace preimage::render
