#pragma once

#include "inference/engine.h"

#include <cstdint>
#include <vector>

namespace preimage {

// A stream of images prepared to a model's input, pulled a step at a time: ImageSetStream (image_set.h) decodes
// files in a background thread into a bounded queue, so a folder of any size trains in bounded memory.
// One consumer thread calls start() and next() (an implementation may decode on threads of its own).
class ImageStream {
public:
    virtual ~ImageStream() = default;
    virtual int size() const = 0;  // images per pass (all ranks together)
    // Begins a pass in steps of `batch` positions of an order shuffled from (seed, epoch) (the stored order when
    // !shuffle): step s covers positions [s * batch, (s + 1) * batch). With `ranks` > 1 each step's positions
    // are cut into `ranks` contiguous slices and this stream yields slice `rank`: every rank takes the same
    // number of steps, and the slices of one step are the batch a single process takes.
    virtual void start(uint64_t seed, int epoch, bool shuffle, int batch, int rank = 0, int ranks = 1) = 0;
    // The next step's readable images of this rank's slice (possibly none); false when the pass is over.
    virtual bool next(std::vector<ImageF>& prepared) = 0;
};

}  // namespace preimage
