// The upload paths checked and timed without a window or a display server: an EGL context (the driver's device
// platform, or Mesa's surfaceless one), a 1024x1024 RGBA texture, a known image uploaded through the host path and,
// where a CUDA device is usable, a known device image through CUDA-GL interop (render/gl/cuda_gl_uploader.h), each
// read back from the texture and compared, and the time per upload of each path.
// Prints one JSON line. Exit 0: checked; 77: the interop half skipped (no CUDA device; the host half was checked);
// 1: a mismatch or a GL/EGL failure.
#include "render/gl/cuda_gl_uploader.h"
#include "render/gl/gl.h"
#include "render/gl/texture.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace preimage::render;

namespace {

constexpr int kSide = 1024, kRepeats = 50;

// A display: the GPU's own (EGL_EXT_platform_device), else Mesa's surfaceless platform, else the default.
EGLDisplay openDisplay(std::string& which) {
    auto queryDevices = reinterpret_cast<PFNEGLQUERYDEVICESEXTPROC>(eglGetProcAddress("eglQueryDevicesEXT"));
    auto platformDisplay = reinterpret_cast<PFNEGLGETPLATFORMDISPLAYEXTPROC>(eglGetProcAddress("eglGetPlatformDisplayEXT"));
    if (queryDevices && platformDisplay) {
        EGLDeviceEXT devices[8];
        EGLint n = 0;
        if (queryDevices(8, devices, &n))
            for (EGLint i = 0; i < n; ++i) {
                EGLDisplay d = platformDisplay(EGL_PLATFORM_DEVICE_EXT, devices[i], nullptr);
                if (d != EGL_NO_DISPLAY && eglInitialize(d, nullptr, nullptr)) {
                    which = "device " + std::to_string(i);
                    return d;
                }
            }
        EGLDisplay d = platformDisplay(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
        if (d != EGL_NO_DISPLAY && eglInitialize(d, nullptr, nullptr)) {
            which = "surfaceless";
            return d;
        }
    }
    EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
    if (d != EGL_NO_DISPLAY && eglInitialize(d, nullptr, nullptr)) {
        which = "default";
        return d;
    }
    return EGL_NO_DISPLAY;
}

Image pattern(int seed) {
    Image im{kSide, kSide, 4, std::vector<uint8_t>(size_t(kSide) * kSide * 4)};
    for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = uint8_t((i * 131 + size_t(seed) * 17 + i / 4093) & 0xff);
    return im;
}

std::vector<uint8_t> readBack(const Texture& t) {
    std::vector<uint8_t> out(size_t(t.width()) * t.height() * 4);
    glBindTexture(GL_TEXTURE_2D, t.id());
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glGetTexImage(GL_TEXTURE_2D, 0, GL_RGBA, GL_UNSIGNED_BYTE, out.data());
    return out;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int fail(const std::string& what) {
    std::printf("{\"ok\": false, \"error\": \"%s\"}\n", what.c_str());
    return 1;
}

}  // namespace

int main() {
    std::string which;
    EGLDisplay display = openDisplay(which);
    if (display == EGL_NO_DISPLAY) return fail("no EGL display");
    if (!eglBindAPI(EGL_OPENGL_API)) return fail("eglBindAPI(OpenGL)");
    const EGLint configAttributes[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
    EGLConfig config;
    EGLint configs = 0;
    if (!eglChooseConfig(display, configAttributes, &config, 1, &configs) || configs < 1) return fail("no EGL config");
    const EGLint pbufferAttributes[] = {EGL_WIDTH, 16, EGL_HEIGHT, 16, EGL_NONE};
    EGLSurface surface = eglCreatePbufferSurface(display, config, pbufferAttributes);
    EGLContext context = eglCreateContext(display, config, EGL_NO_CONTEXT, nullptr);
    if (context == EGL_NO_CONTEXT || !eglMakeCurrent(display, surface, surface, context)) return fail("no EGL context");
    const std::string renderer = reinterpret_cast<const char*>(glGetString(GL_RENDERER));

    // The host path: a known image in, the same bytes out; then the time per upload.
    Texture texture;
    auto host = makeHostUploader();
    const Image a = pattern(1);
    host->upload(texture, a);
    glFinish();
    if (readBack(texture) != a.pixels) return fail("the host path's texture differs from the image");
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < kRepeats; ++k) host->upload(texture, a);
    glFinish();
    const double hostMs = secondsSince(t0) * 1e3 / kRepeats;

    std::string why;
    auto interop = makeCudaGlUploader(&why);
    if (!interop) {
        std::printf("{\"ok\": true, \"egl\": \"%s\", \"renderer\": \"%s\", \"side\": %d, \"host_upload_ms\": %.4f, "
                    "\"interop\": \"skipped: %s\"}\n",
                    which.c_str(), renderer.c_str(), kSide, hostMs, why.c_str());
        return 77;
    }
    // The interop path: a known device image in (another pattern), read back from the texture.
    const Image b = pattern(2);
    void* device = nullptr;
    size_t pitch = 0;
    if (cudaMallocPitch(&device, &pitch, size_t(kSide) * 4, kSide) != cudaSuccess) return fail("cudaMallocPitch");
    cudaMemcpy2D(device, pitch, b.pixels.data(), size_t(kSide) * 4, size_t(kSide) * 4, kSide, cudaMemcpyHostToDevice);
    cudaEvent_t ready;
    cudaEventCreate(&ready);
    cudaEventRecord(ready, nullptr);
    const DeviceImage image{device, kSide, kSide, pitch, ready, nullptr};
    if (!interop->uploadDevice(texture, image)) return fail("uploadDevice failed");
    cudaDeviceSynchronize();
    glFinish();
    if (readBack(texture) != b.pixels) return fail("the interop path's texture differs from the device image");
    t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < kRepeats; ++k) interop->uploadDevice(texture, image);
    cudaDeviceSynchronize();
    glFinish();
    const double interopMs = secondsSince(t0) * 1e3 / kRepeats;
    std::printf("{\"ok\": true, \"egl\": \"%s\", \"renderer\": \"%s\", \"side\": %d, \"host_upload_ms\": %.4f, "
                "\"interop_upload_ms\": %.4f, \"interop\": \"%s\"}\n",
                which.c_str(), renderer.c_str(), kSide, hostMs, interopMs, interop->name().c_str());
    cudaFree(device);
    cudaEventDestroy(ready);
    return 0;
}
