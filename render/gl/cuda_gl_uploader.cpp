#include "render/gl/cuda_gl_uploader.h"

#include "render/gl/gl.h"

#include <cuda_gl_interop.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <unordered_map>

namespace preimage::render {
namespace {

bool cudaOk(cudaError_t e, const char* what, std::string* error = nullptr) {
    if (e == cudaSuccess) return true;
    const std::string msg = std::string(what) + ": " + cudaGetErrorString(e);
    if (error) *error = msg;
    else std::fprintf(stderr, "preimage: CUDA error in %s\n", msg.c_str());
    return false;
}

class Uploader final : public CudaGlUploader {
public:
    Uploader() : m_host(makeHostUploader()) {}
    ~Uploader() override {
        for (auto& [id, reg] : m_registered) cudaGraphicsUnregisterResource(reg.resource);
    }

    void upload(Texture& texture, const Image& image) override { m_host->upload(texture, image); }
    std::string name() const override { return m_active ? "CUDA-GL interop" : "host (CUDA-GL interop unavailable)"; }
    bool interopActive() const override { return m_active; }

    bool uploadDevice(Texture& texture, const DeviceImage& image) override {
        if (!m_active || !image.pixels) return false;
        texture.ensure(image.width, image.height);
        Registration& reg = m_registered[texture.id()];
        if (!reg.resource || reg.allocation != texture.reallocations()) {
            if (reg.resource) cudaGraphicsUnregisterResource(reg.resource);
            reg.resource = nullptr;
            std::string why;
            if (!cudaOk(cudaGraphicsGLRegisterImage(&reg.resource, texture.id(), GL_TEXTURE_2D,
                                                    cudaGraphicsRegisterFlagsWriteDiscard),
                        "cudaGraphicsGLRegisterImage", &why)) {
                std::fprintf(stderr, "preimage: CUDA-GL interop disabled, using host uploads (%s)\n", why.c_str());
                m_active = false;  // said once; the caller falls back to host frames
                m_registered.erase(texture.id());
                return false;
            }
            reg.allocation = texture.reallocations();
        }
        auto stream = static_cast<cudaStream_t>(image.stream);
        if (image.readyEvent && !cudaOk(cudaStreamWaitEvent(stream, static_cast<cudaEvent_t>(image.readyEvent), 0), "cudaStreamWaitEvent"))
            return false;
        if (!cudaOk(cudaGraphicsMapResources(1, &reg.resource, stream), "cudaGraphicsMapResources")) return false;
        cudaArray_t array = nullptr;
        bool ok = cudaOk(cudaGraphicsSubResourceGetMappedArray(&array, reg.resource, 0, 0), "cudaGraphicsSubResourceGetMappedArray") &&
                  cudaOk(cudaMemcpy2DToArrayAsync(array, 0, 0, image.pixels, image.pitch, size_t(image.width) * 4,
                                                  size_t(image.height), cudaMemcpyDeviceToDevice, stream),
                         "cudaMemcpy2DToArrayAsync");
        ok = cudaOk(cudaGraphicsUnmapResources(1, &reg.resource, stream), "cudaGraphicsUnmapResources") && ok;
        return ok;
    }

private:
    struct Registration {
        cudaGraphicsResource_t resource = nullptr;
        uint64_t allocation = 0;
    };
    std::unique_ptr<TextureUploader> m_host;
    std::unordered_map<unsigned, Registration> m_registered;
    bool m_active = true;
};

}  // namespace

int cudaDeviceCount(std::string* error) {
    int n = 0;
    if (!cudaOk(cudaGetDeviceCount(&n), "cudaGetDeviceCount", error)) return 0;
    return n;
}

std::unique_ptr<CudaGlUploader> makeCudaGlUploader(std::string* why) {
    std::string err;
    if (cudaDeviceCount(&err) == 0) {
        if (why) *why = err.empty() ? "no CUDA device" : err;
        return nullptr;
    }
    return std::make_unique<Uploader>();
}

}  // namespace preimage::render
