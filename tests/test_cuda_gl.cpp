// The CUDA-GL uploader's choice of path. On machines without a CUDA device (CI) it must refuse with a
// reason, so the app falls back to host uploads; with a device it must be created.
#include "render/gl/cuda_gl_uploader.h"

#include <doctest/doctest.h>

using namespace preimage::render;

TEST_CASE("the CUDA-GL uploader is offered only when a CUDA device is usable") {
    std::string countError;
    const int devices = cudaDeviceCount(&countError);
    std::string why;
    auto uploader = makeCudaGlUploader(&why);
    if (devices == 0) {
        CHECK(uploader == nullptr);
        CHECK(!why.empty());
        MESSAGE("no CUDA device here: " << why);
    } else {
        REQUIRE(uploader != nullptr);
        CHECK(uploader->interopActive());
        CHECK(uploader->name() == "CUDA-GL interop");
    }
}
