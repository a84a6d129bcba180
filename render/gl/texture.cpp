#include "render/gl/texture.h"

#include "render/gl/gl.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <utility>

namespace preimage::render {

bool glCheck(const char* what) {
    static std::set<std::string> reported;
    bool ok = true;
    for (GLenum e = glGetError(); e != GL_NO_ERROR; e = glGetError()) {
        ok = false;
        if (reported.insert(what).second) std::fprintf(stderr, "preimage: OpenGL error 0x%04x in %s\n", e, what);
    }
    return ok;
}

Texture::~Texture() { reset(); }

Texture::Texture(Texture&& o) noexcept
    : m_id(std::exchange(o.m_id, 0u)), m_width(o.m_width), m_height(o.m_height), m_reallocations(o.m_reallocations) {}

Texture& Texture::operator=(Texture&& o) noexcept {
    if (this != &o) {
        reset();
        m_id = std::exchange(o.m_id, 0u);
        m_width = o.m_width;
        m_height = o.m_height;
        m_reallocations = o.m_reallocations;
    }
    return *this;
}

void Texture::reset() {
    if (m_id) {
        glDeleteTextures(1, &m_id);
        glCheck("glDeleteTextures");
    }
    m_id = 0;
    m_width = m_height = 0;
}

bool Texture::ensure(int width, int height) {
    if (m_id && width == m_width && height == m_height) return false;
    if (!m_id) {
        glGenTextures(1, &m_id);
        glCheck("glGenTextures");
    }
    glBindTexture(GL_TEXTURE_2D, m_id);
    // Nearest-neighbour: pre-images of 28x28 inputs are shown many times enlarged, pixels crisp.
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
    glCheck("glTexImage2D");
    m_width = width;
    m_height = height;
    ++m_reallocations;
    return true;
}

namespace {

class HostUploader final : public TextureUploader {
public:
    void upload(Texture& texture, const Image& image) override {
        if (image.empty()) return;
        const Image rgba = image.channels == 4 ? image : toRgba(image);
        texture.ensure(rgba.width, rgba.height);
        glBindTexture(GL_TEXTURE_2D, texture.id());
        glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
        glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, rgba.width, rgba.height, GL_RGBA, GL_UNSIGNED_BYTE, rgba.pixels.data());
        glCheck("glTexSubImage2D");
    }
    std::string name() const override { return "host (glTexSubImage2D)"; }
};

}  // namespace

std::unique_ptr<TextureUploader> makeHostUploader() { return std::make_unique<HostUploader>(); }

Image readFramebuffer(int width, int height) {
    Image out{width, height, 3, std::vector<uint8_t>(size_t(width) * height * 3)};
    glReadBuffer(GL_BACK);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    std::vector<uint8_t> rows(out.pixels.size());
    glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE, rows.data());
    glCheck("glReadPixels");
    // GL rows are bottom-up.
    const size_t stride = size_t(width) * 3;
    for (int y = 0; y < height; ++y)
        std::copy_n(rows.data() + size_t(height - 1 - y) * stride, stride, out.pixels.data() + size_t(y) * stride);
    return out;
}

}  // namespace preimage::render
