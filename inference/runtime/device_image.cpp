#include "inference/runtime/device_image.h"

#ifdef PREIMAGE_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <memory>

namespace preimage {

bool deviceImagesSupported() {
#ifdef PREIMAGE_CUDA
    return true;
#else
    return false;
#endif
}

DeviceRgba wrapDeviceRgba(const at::Tensor& rgba) {
    if (rgba.dim() != 3 || rgba.size(2) != 4 || rgba.scalar_type() != at::kByte || !rgba.is_contiguous())
        throw Error("a device image must be RGBA8 [H,W,4], contiguous");
#ifdef PREIMAGE_CUDA
    if (!rgba.is_cuda()) throw Error("a device image must live on a CUDA device");
    // The memory and the event live as long as any copy of the DeviceRgba: the UI thread's copy waits on the event.
    struct Owner {
        at::Tensor pixels;
        at::cuda::CUDAEvent ready;
    };
    auto owner = std::make_shared<Owner>();
    owner->pixels = rgba;
    const auto stream = c10::cuda::getCurrentCUDAStream(rgba.device().index());
    owner->ready.record(stream);
    DeviceRgba d;
    d.pixels = owner->pixels.data_ptr();
    d.width = int(rgba.size(1));
    d.height = int(rgba.size(0));
    d.pitch = size_t(rgba.size(1)) * 4;
    d.readyEvent = owner->ready.event();
    d.stream = nullptr;  // the UI thread copies on its own (default) stream, after the event
    d.owner = std::static_pointer_cast<const void>(std::shared_ptr<const Owner>(owner));
    return d;
#else
    throw Error("device images need a CUDA build (PREIMAGE_CUDA)");
#endif
}

}  // namespace preimage
