// RAII OpenGL textures and the upload path. UI thread only (the GL context's thread): textures are
// created, updated and destroyed there, never on the Worker.
#pragma once

#include "render/image.h"

#include <cstdint>
#include <memory>
#include <string>

namespace preimage::render {

class Texture {
public:
    Texture() = default;
    ~Texture();
    Texture(Texture&& other) noexcept;
    Texture& operator=(Texture&& other) noexcept;
    Texture(const Texture&) = delete;
    Texture& operator=(const Texture&) = delete;

    unsigned id() const { return m_id; }
    int width() const { return m_width; }
    int height() const { return m_height; }
    bool valid() const { return m_id != 0; }
    // (Re)allocates storage only when the size changes; returns true if it did.
    bool ensure(int width, int height);
    void reset();
    void* imguiId() const { return reinterpret_cast<void*>(static_cast<intptr_t>(m_id)); }
    uint64_t reallocations() const { return m_reallocations; }

private:
    unsigned m_id = 0;
    int m_width = 0, m_height = 0;
    uint64_t m_reallocations = 0;
};

// Moves pixels into a texture. The host path uploads from CPU memory (glTexSubImage2D); the CUDA path
// (cuda_gl_uploader.h, CUDA builds) copies device buffers through CUDA-GL interop. Same interface.
class TextureUploader {
public:
    virtual ~TextureUploader() = default;
    // Any 1-, 3- or 4-channel image: converted to RGBA8 and uploaded, reallocating only on a size change.
    virtual void upload(Texture& texture, const Image& image) = 0;
    virtual std::string name() const = 0;
};

std::unique_ptr<TextureUploader> makeHostUploader();

// Reads the current framebuffer (GL_BACK, before the swap) as an RGB image, top row first.
Image readFramebuffer(int width, int height);

}  // namespace preimage::render
