// CUDA-GL interop upload path (CUDA builds). UI thread only, with the GL context current.
//
// The Worker renders a frame into a device RGBA8 buffer and records a CUDA event after it; the UI
// thread maps the texture's registered image, makes its copy wait on that event, copies device to
// device (cudaMemcpy2DToArrayAsync) and unmaps: the pixels never visit host memory. Each texture is
// registered once per allocation (Texture::reallocations()). Host images still go through the host
// path, and if CUDA or registration is unavailable the uploader falls back to it, saying so once.
#pragma once

#include "render/gl/texture.h"

#include <cstddef>
#include <string>

namespace preimage::render {

struct DeviceImage {
    const void* pixels = nullptr;  // device pointer, RGBA8 rows
    int width = 0, height = 0;
    size_t pitch = 0;              // bytes per row
    void* readyEvent = nullptr;    // cudaEvent_t recorded after the pixels were written (may be null)
    void* stream = nullptr;        // cudaStream_t for the copy (null: the default stream)
};

class CudaGlUploader : public TextureUploader {
public:
    virtual bool uploadDevice(Texture& texture, const DeviceImage& image) = 0;  // false: fell back / failed
    virtual bool interopActive() const = 0;
};

// A CUDA-GL uploader when a CUDA device is usable, else nullptr with the reason in `why`.
std::unique_ptr<CudaGlUploader> makeCudaGlUploader(std::string* why);

// The device count the CUDA runtime reports (0 when no driver or device; never throws).
int cudaDeviceCount(std::string* error = nullptr);

}  // namespace preimage::render
