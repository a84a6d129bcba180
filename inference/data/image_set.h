// A dataset of images for the dataset commands: a folder searched recursively (the first-level subfolder is
// the class, as torchvision's ImageFolder has it; files in sorted order) or Debian's Fashion-MNIST. Images
// are decoded one at a time when asked for, so a folder of 100,000 costs its file list. Any thread.
#pragma once

#include "inference/data/dataset.h"
#include "inference/engine.h"
#include "inference/data/image_stream.h"

#include <atomic>
#include <functional>

#include <memory>
#include <string>
#include <vector>

namespace preimage {

class ImageSet {
public:
    virtual ~ImageSet() = default;
    int size() const { return int(m_names.size()); }
    // The file's path (a folder) or "fashion-mnist:test/123".
    const std::string& name(int i) const { return m_names.at(size_t(i)); }
    // The class index into classNames(), or -1 (a file at the folder's top level).
    int label(int i) const { return m_labels.at(size_t(i)); }
    const std::vector<std::string>& classNames() const { return m_classes; }
    const std::string& spec() const { return m_spec; }
    // Decodes image i; throws Error naming the file when it cannot be read (corrupt, truncated, vanished).
    virtual ImageF load(int i) const = 0;

protected:
    std::string m_spec;
    std::vector<std::string> m_names, m_classes;
    std::vector<int> m_labels;
};

// `spec` is a folder, or fashion-mnist[:train|:test] (`defaultSplit` when no split is named). `limit` > 0
// keeps the first `limit` images of the sorted list. Throws Error for a missing folder or one without images.
std::unique_ptr<ImageSet> openImageSet(const std::string& spec, int limit = 0, const std::string& defaultSplit = "test");

// Images of a set (those at `indices`) prepared to `model`'s input, decoded by a background thread into a
// bounded queue (a few batches): training streams a folder of any size in bounded memory. Unreadable files are
// skipped and counted. One consumer thread.
class ImageSetStream : public ImageStream {
public:
    ImageSetStream(const ImageSet& set, std::vector<int> indices, const Model& model, int queueImages = 256);
    ~ImageSetStream() override;
    int size() const override { return int(m_indices.size()); }
    void start(uint64_t seed, int epoch, bool shuffle, int batch, int rank = 0, int ranks = 1) override;
    bool next(std::vector<ImageF>& prepared) override;
    int skipped() const { return m_skipped; }

private:
    void stop();
    struct Queue;
    const ImageSet& m_set;
    std::vector<int> m_indices;
    const Model& m_model;
    int m_capacity;
    int m_steps = 0, m_step = 0;  // steps of the pass, and the next one
    std::unique_ptr<Queue> m_queue;
    std::atomic<int> m_skipped{0};
};

// Images of a set (those at `indices`) decoded by `threads` threads, prepared to `input`'s size and channels and
// kept in memory as bytes, for trainers that revisit every image many times (the mixer). Unreadable files are
// skipped: `kept` (if given) receives the positions into `indices` of the images kept, `skipped` (if given) the reason
// each file was left out (it names the file), in index order. Labels: the set's (0 for an unlabelled file).
// `progress(done, total)` every few images, from the calling thread.
Dataset loadIntoMemory(const ImageSet& set, const std::vector<int>& indices, const InputSpec& input, int threads,
                       std::vector<int>* kept = nullptr, const std::function<void(int, int)>& progress = {},
                       std::vector<std::string>* skipped = nullptr);

// The image shape a trainer takes a folder at when no model names it: `size` (> 0), else the first readable
// image's side when it is square and a multiple of 4 in [16, 128], else 64; grey when `gray` or the first image
// is grey. Normalisation: none (mean 0, std 1).
InputSpec folderInputSpec(const ImageSet& set, int size, bool gray);

}  // namespace preimage
