// Device images for the CUDA-GL interop path: an RGBA8 tensor on a CUDA device wrapped as a torch-free DeviceRgba
// (engine.h) with a CUDA event recorded after the pixels were written. Torch header: inference/ only. Called on
// the thread that computed the tensor (the Worker's), on the stream current there.
#pragma once

#include "inference/engine.h"

#include <ATen/ATen.h>

namespace preimage {

// Whether this build can hand device images over (a CUDA build: PREIMAGE_CUDA).
bool deviceImagesSupported();
// `rgba`: [H,W,4] uint8, contiguous, on a CUDA device. Throws Error on a CPU tensor or in a CPU build.
DeviceRgba wrapDeviceRgba(const at::Tensor& rgba);

}  // namespace preimage
