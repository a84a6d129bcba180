#include "render/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace preimage::render {

namespace {

uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

bool startsWith(const uint8_t* data, size_t size, const char* magic, size_t n) {
    return size >= n && std::memcmp(data, magic, n) == 0;
}

bool endsWithIgnoreCase(const std::string& s, const std::string& suffix) {
    if (s.size() < suffix.size()) return false;
    for (size_t i = 0; i < suffix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
    return true;
}

// The format by its signature (stb_image would otherwise try every decoder in turn, and report the
// last one's complaint: a truncated JPEG came out as "bad png sig"). TGA has no signature: by extension.
const char* sniffFormat(const uint8_t* d, size_t n, const std::string& name) {
    if (startsWith(d, n, "\x89PNG\r\n\x1a\n", 8)) return "PNG";
    if (startsWith(d, n, "\xff\xd8\xff", 3)) return "JPEG";
    if (startsWith(d, n, "BM", 2)) return "BMP";
    if (startsWith(d, n, "GIF87a", 6) || startsWith(d, n, "GIF89a", 6)) return "GIF";
    if (startsWith(d, n, "P5", 2) || startsWith(d, n, "P6", 2)) return "PNM";
    if (startsWith(d, n, "8BPS", 4)) return "PSD";
    if (startsWith(d, n, "#?RADIANCE", 10) || startsWith(d, n, "#?RGBE", 6)) return "HDR";
    if (endsWithIgnoreCase(name, ".tga")) return "TGA";
    return nullptr;
}

// stb_image fills the rows missing from a truncated BMP with black and reports success: check that the
// pixel data the header describes is all there (uncompressed and bit-field BMPs; stb reads no RLE).
void checkBmpComplete(const uint8_t* d, size_t n, const std::string& name) {
    if (n < 26) throw IoError("'" + name + "' is a truncated BMP file (the header is cut off)");
    const uint32_t offset = le32(d + 10), header = le32(d + 14);
    int64_t w, h, bpp, compression = 0;
    if (header == 12) {
        w = le16(d + 18), h = le16(d + 20), bpp = le16(d + 24);
    } else {
        if (n < 34) throw IoError("'" + name + "' is a truncated BMP file (the header is cut off)");
        w = int32_t(le32(d + 18)), h = int32_t(le32(d + 22)), bpp = le16(d + 28), compression = le32(d + 30);
    }
    if (compression != 0 && compression != 3 && compression != 6) return;  // stb refuses the others itself
    if (w <= 0 || h == 0 || bpp == 0) return;
    const int64_t row = (w * bpp + 31) / 32 * 4, rows = h < 0 ? -h : h;
    if (int64_t(offset) + row * rows > int64_t(n)) {
        const int64_t have = int64_t(n) > int64_t(offset) ? (int64_t(n) - offset) / row : 0;
        throw IoError("'" + name + "' is a truncated BMP file: its pixel data ends after " + std::to_string(have) +
                      " of " + std::to_string(rows) + " rows");
    }
}

// A JPEG's entropy-coded data cannot hold FF D9 (FF is stuffed as FF 00), so a file without an end-of-image
// marker after its first start-of-scan is cut short (stb_image would decode the rest as grey).
void checkJpegComplete(const uint8_t* d, size_t n, const std::string& name) {
    const uint8_t* end = d + n;
    const uint8_t* sos = nullptr;
    for (const uint8_t* p = d + 2; p + 1 < end; ++p)
        if (p[0] == 0xff && p[1] == 0xda) {
            sos = p;
            break;
        }
    if (!sos) throw IoError("'" + name + "' is a truncated JPEG file (it ends before its image data)");
    for (const uint8_t* p = sos + 2; p + 1 < end; ++p)
        if (p[0] == 0xff && p[1] == 0xd9) return;
    throw IoError("'" + name + "' is a truncated JPEG file (no end-of-image marker)");
}

// stb_image's reason for a failure, when it is one of the decoder's own and printable; else empty.
std::string stbReason() {
    const char* r = stbi_failure_reason();
    if (!r || !*r) return "";
    std::string s(r);
    // Another format's signature test, or stb's "tried them all": not the decoder's own reason.
    if (s.find(" sig") != std::string::npos || s.rfind("not ", 0) == 0 || s == "unknown image type") return "";
    for (char& ch : s)
        if (!std::isprint(static_cast<unsigned char>(ch))) ch = '?';
    return s;
}

std::string megapixels(int64_t px) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", double(px) / 1e6);
    return buf;
}

}  // namespace

Image decodeImage(const uint8_t* data, size_t size, const std::string& name) {
    if (size == 0) throw IoError("'" + name + "' is empty");
    if (size > size_t(1) << 31) throw IoError("'" + name + "' is too large to decode (over 2 GB)");
    const char* format = sniffFormat(data, size, name);
    if (!format)
        throw IoError("'" + name + "' is not an image file this tool reads (PNG, JPEG, BMP, GIF, PGM/PPM, PSD, HDR, TGA)");
    const std::string what = std::string(format) + " file";
    int w = 0, h = 0, c = 0;
    if (!stbi_info_from_memory(data, int(size), &w, &h, &c)) {
        const std::string reason = stbReason();
        throw IoError("'" + name + "' is a corrupt or truncated " + what + (reason.empty() ? "" : " (" + reason + ")"));
    }
    if (w <= 0 || h <= 0) throw IoError("'" + name + "' has no pixels");
    if (w > kMaxImageSide || h > kMaxImageSide)
        throw IoError("'" + name + "' is " + std::to_string(w) + "x" + std::to_string(h) + ": images over " +
                      std::to_string(kMaxImageSide) + " pixels a side are refused");
    if (int64_t(w) * h > kMaxImagePixels)
        throw IoError("'" + name + "' is " + std::to_string(w) + "x" + std::to_string(h) + " (" + megapixels(int64_t(w) * h) +
                      " megapixels): images over " + megapixels(kMaxImagePixels) +
                      " megapixels are refused (downscale it first)");
    if (std::strcmp(format, "BMP") == 0) checkBmpComplete(data, size, name);
    if (std::strcmp(format, "JPEG") == 0) checkJpegComplete(data, size, name);
    const int want = (c == 1 || c == 2) ? 2 : 4;  // keep alpha, composite below
    stbi_uc* px = stbi_load_from_memory(data, int(size), &w, &h, &c, want);
    if (!px) {
        const std::string reason = stbReason();
        throw IoError("'" + name + "' is a corrupt or truncated " + what + (reason.empty() ? "" : " (" + reason + ")"));
    }
    Image out;
    out.width = w;
    out.height = h;
    out.channels = want - 1;
    out.pixels.resize(size_t(w) * h * out.channels);
    for (size_t i = 0, n = size_t(w) * h; i < n; ++i) {
        const stbi_uc* p = px + i * want;
        const unsigned a = p[want - 1];
        for (int k = 0; k < out.channels; ++k) out.pixels[i * out.channels + k] = uint8_t((p[k] * a + 127) / 255);
    }
    stbi_image_free(px);
    return out;
}

Image loadImage(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw IoError("'" + path + "' is a folder, not an image file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError("cannot open image '" + path + "': " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    return decodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

const std::vector<std::string>& imageExtensions() {
    static const std::vector<std::string> ext{".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".ppm", ".pgm"};
    return ext;
}

bool isImageFile(const std::string& path) {
    std::string e = std::filesystem::path(path).extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    const auto& known = imageExtensions();
    return std::find(known.begin(), known.end(), e) != known.end();
}

std::vector<uint8_t> encodePng(const Image& image) {
    std::vector<uint8_t> out;
    auto sink = [](void* ctx, void* data, int size) {
        auto* v = static_cast<std::vector<uint8_t>*>(ctx);
        v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
    };
    if (!stbi_write_png_to_func(sink, &out, image.width, image.height, image.channels, image.pixels.data(),
                                image.width * image.channels))
        throw IoError("PNG encoding failed");
    return out;
}

void writeFileAtomically(const std::string& path, const void* data, size_t size, bool durable) {
    // A temporary name of its own (process, thread and a counter: two writers never share one).
    static std::atomic<unsigned> counter{0};
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                            std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()) % 100000) + "." +
                            std::to_string(counter++);
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot write '" + path + "': " + std::strerror(errno));
    int err = 0;  // the first failure's cause (errno is only meaningful right after a call that failed)
    auto check = [&](bool ok) {
        if (!ok && err == 0) err = errno ? errno : EIO;
    };
    errno = 0;
    check(std::fwrite(data, 1, size, f) == size);
    check(std::fflush(f) == 0);
    if (durable) check(::fsync(fileno(f)) == 0);
    check(std::fclose(f) == 0);
    if (err == 0) check(std::rename(tmp.c_str(), path.c_str()) == 0);
    if (err == 0) return;
    std::remove(tmp.c_str());
    throw IoError("cannot write '" + path + "': " + std::strerror(err));
}

void writeFileAtomically(const std::string& path, const std::string& text) {
    writeFileAtomically(path, text.data(), text.size());
}

void savePng(const Image& image, const std::string& path) {
    auto bytes = encodePng(image);
    writeFileAtomically(path, bytes.data(), bytes.size());
}

Image toRgb(const Image& image) {
    if (image.channels == 3) return image;
    Image out{image.width, image.height, 3, {}};
    out.pixels.resize(size_t(image.width) * image.height * 3);
    for (size_t i = 0, n = size_t(image.width) * image.height; i < n; ++i)
        for (int k = 0; k < 3; ++k)
            out.pixels[i * 3 + k] = image.pixels[i * image.channels + (image.channels >= 3 ? k : 0)];
    return out;
}

Image toRgba(const Image& image) {
    Image out{image.width, image.height, 4, {}};
    out.pixels.resize(size_t(image.width) * image.height * 4);
    for (size_t i = 0, n = size_t(image.width) * image.height; i < n; ++i) {
        for (int k = 0; k < 3; ++k)
            out.pixels[i * 4 + k] = image.pixels[i * image.channels + (image.channels >= 3 ? k : 0)];
        out.pixels[i * 4 + 3] = image.channels == 4 ? image.pixels[i * 4 + 3] : 255;
    }
    return out;
}

Image scaleNearest(const Image& image, int factor) {
    if (factor <= 1) return image;
    Image out{image.width * factor, image.height * factor, image.channels, {}};
    out.pixels.resize(size_t(out.width) * out.height * out.channels);
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x)
            std::memcpy(out.at(x, y), image.at(x / factor, y / factor), size_t(image.channels));
    return out;
}

}  // namespace preimage::render
