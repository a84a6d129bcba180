#include "image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace preimage::render {

Image decodeImage(const uint8_t* data, size_t size, const std::string& name) {
    if (size == 0) throw IoError("'" + name + "' is empty");
    if (size > size_t(1) << 31) throw IoError("'" + name + "' is too large to decode");
    int w = 0, h = 0, c = 0;
    if (!stbi_info_from_memory(data, int(size), &w, &h, &c))
        throw IoError("'" + name + "' is not a readable image (" + std::string(stbi_failure_reason()) + ")");
    if (w <= 0 || h <= 0) throw IoError("'" + name + "' has no pixels");
    if (w > kMaxImageSide || h > kMaxImageSide)
        throw IoError("'" + name + "' is " + std::to_string(w) + "x" + std::to_string(h) + ": images over " +
                      std::to_string(kMaxImageSide) + " pixels a side are refused");
    const int want = (c == 1 || c == 2) ? 2 : 4;  // keep alpha, composite below
    stbi_uc* px = stbi_load_from_memory(data, int(size), &w, &h, &c, want);
    if (!px) throw IoError("'" + name + "' is corrupt or truncated (" + std::string(stbi_failure_reason()) + ")");
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
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError("cannot open image '" + path + "': " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    return decodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
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

void writeFileAtomically(const std::string& path, const void* data, size_t size) {
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot write '" + path + "': " + std::strerror(errno));
    bool ok = std::fwrite(data, 1, size, f) == size;
    ok = (std::fflush(f) == 0) && ok;
    ok = (::fsync(fileno(f)) == 0) && ok;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        std::remove(tmp.c_str());
        throw IoError("cannot write '" + path + "': " + std::strerror(err));
    }
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
