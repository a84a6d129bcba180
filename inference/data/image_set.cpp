#include "inference/data/image_set.h"

#include "inference/data/convert.h"

#include "inference/data/dataset.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <cctype>
#include <filesystem>
#include <map>
#include <system_error>

namespace preimage {
namespace fs = std::filesystem;

namespace {

class FolderSet : public ImageSet {
public:
    FolderSet(const std::string& dir, int limit) {
        m_spec = dir;
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) throw Error("--data '" + dir + "' is not a folder (or fashion-mnist[:train|:test])");
        std::vector<fs::path> files;
        auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
        if (ec) throw Error("cannot read the folder '" + dir + "': " + ec.message());
        for (auto end = fs::recursive_directory_iterator(); it != end; it.increment(ec)) {
            if (ec) throw Error("cannot read the folder '" + dir + "': " + ec.message());
            std::error_code e2;
            if (!it->is_regular_file(e2)) continue;
            if (render::isImageFile(it->path().string())) files.push_back(it->path());
        }
        // Sorted by the path below the folder, byte order: the same list on every machine and run.
        std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
            return a.lexically_relative(dir).generic_string() < b.lexically_relative(dir).generic_string();
        });
        if (files.empty())
            throw Error("--data '" + dir + "' holds no images (PNG, JPEG, BMP, GIF, TGA, PPM or PGM files, searched in its subfolders too)");
        std::map<std::string, int> classIndex;
        std::vector<std::string> classOf;
        for (const auto& f : files) {
            const fs::path rel = f.lexically_relative(dir);
            const std::string cls = std::distance(rel.begin(), rel.end()) > 1 ? rel.begin()->string() : "";
            classOf.push_back(cls);
            if (!cls.empty()) classIndex[cls] = 0;
        }
        int k = 0;
        for (auto& [name, index] : classIndex) index = k++, m_classes.push_back(name);
        const size_t n = limit > 0 ? std::min(files.size(), size_t(limit)) : files.size();
        for (size_t i = 0; i < n; ++i) {
            m_names.push_back(files[i].string());
            m_labels.push_back(classOf[i].empty() ? -1 : classIndex[classOf[i]]);
        }
    }
    ImageF load(int i) const override { return loadImageF(name(i)); }
};

class FashionSet : public ImageSet {
public:
    FashionSet(const std::string& spec, bool train, int limit) : m_data(loadFashionMnist(train, limit)) {
        m_spec = spec;
        m_classes = m_data.classNames;
        for (int i = 0; i < m_data.count; ++i) {
            m_names.push_back(std::string("fashion-mnist:") + (train ? "train/" : "test/") + std::to_string(i));
            m_labels.push_back(m_data.labels[size_t(i)]);
        }
    }
    ImageF load(int i) const override { return m_data.image(i); }

private:
    Dataset m_data;
};

}  // namespace

struct ImageSetStream::Queue {
    struct Item {
        int step;
        std::optional<ImageF> image;  // none: the file could not be read (skipped)
    };
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Item> items;
    bool done = false, quit = false;
    std::string error;  // a failure that is not one file's (preparing): rethrown to the consumer
    std::thread worker;
};

ImageSetStream::ImageSetStream(const ImageSet& set, std::vector<int> indices, const Model& model, int queueImages)
    : m_set(set), m_indices(std::move(indices)), m_model(model), m_capacity(std::max(1, queueImages)) {}

ImageSetStream::~ImageSetStream() { stop(); }

void ImageSetStream::stop() {
    if (!m_queue) return;
    {
        std::lock_guard<std::mutex> lock(m_queue->mutex);
        m_queue->quit = true;
    }
    m_queue->changed.notify_all();
    if (m_queue->worker.joinable()) m_queue->worker.join();
    m_queue.reset();
}

void ImageSetStream::start(uint64_t seed, int epoch, bool shuffle, int batch, int rank, int ranks) {
    stop();
    std::vector<int> order = m_indices;
    if (shuffle) {
        std::mt19937_64 rng(seed * 1000003u + uint64_t(epoch));
        std::shuffle(order.begin(), order.end(), rng);
    }
    batch = std::max(1, batch);
    const int n = int(order.size());
    m_steps = (n + batch - 1) / batch;
    m_step = 0;
    // This rank's positions of each step: slice `rank` of `ranks` contiguous ones.
    std::vector<std::pair<int, int>> mine;  // (step, image index)
    for (int s = 0; s < m_steps; ++s) {
        const int first = s * batch, count = std::min(batch, n - first);
        for (int p = first + count * rank / ranks; p < first + count * (rank + 1) / ranks; ++p) mine.push_back({s, order[size_t(p)]});
    }
    m_queue = std::make_unique<Queue>();
    Queue* q = m_queue.get();
    q->worker = std::thread([this, q, mine = std::move(mine)] {
        for (const auto& [step, i] : mine) {
            std::optional<ImageF> image;
            try {
                image = m_model.prepare(m_set.load(i));
            } catch (const Error&) {
                m_skipped++;
            } catch (const std::exception& e) {
                std::lock_guard<std::mutex> lock(q->mutex);
                q->error = e.what();
                break;
            }
            std::unique_lock<std::mutex> lock(q->mutex);
            q->changed.wait(lock, [&] { return q->quit || int(q->items.size()) < m_capacity; });
            if (q->quit) return;
            q->items.push_back({step, std::move(image)});
            lock.unlock();
            q->changed.notify_all();
        }
        std::lock_guard<std::mutex> lock(q->mutex);
        q->done = true;
        q->changed.notify_all();
    });
}

bool ImageSetStream::next(std::vector<ImageF>& prepared) {
    prepared.clear();
    if (!m_queue || m_step >= m_steps) return false;
    Queue* q = m_queue.get();
    std::unique_lock<std::mutex> lock(q->mutex);
    // Items of this step until one of a later step shows, or the pass ends.
    for (;;) {
        q->changed.wait(lock, [&] { return !q->items.empty() || q->done || !q->error.empty(); });
        if (!q->error.empty()) throw Error("reading the dataset: " + q->error);
        if (q->items.empty() || q->items.front().step != m_step) break;
        if (q->items.front().image) prepared.push_back(std::move(*q->items.front().image));
        q->items.pop_front();
        q->changed.notify_all();
    }
    m_step++;
    return true;
}

Dataset loadIntoMemory(const ImageSet& set, const std::vector<int>& indices, const InputSpec& input, int threads,
                       std::vector<int>* kept, const std::function<void(int, int)>& progress,
                       std::vector<std::string>* skipped) {
    const int n = int(indices.size());
    const size_t plane = size_t(input.width) * size_t(input.height), values = plane * size_t(input.channels);
    std::vector<uint8_t> pixels(size_t(n) * values);
    std::vector<char> ok(size_t(n), 0);
    std::vector<std::string> why(static_cast<size_t>(n));  // each slot written by the one thread that took its image
    std::atomic<int> next{0}, done{0};
    std::string failure;  // a failure that is not one file's (written once, by the thread that sets `failed`)
    std::atomic<bool> failed{false};
    auto work = [&] {
        for (int k; (k = next++) < n;) {
            try {
                const ImageF im = prepareImage(set.load(indices[size_t(k)]), input);
                uint8_t* dst = pixels.data() + size_t(k) * values;
                for (size_t p = 0; p < plane; ++p)
                    for (size_t c = 0; c < size_t(input.channels); ++c)
                        dst[c * plane + p] = uint8_t(std::lround(std::clamp(im.pixels[p * size_t(input.channels) + c], 0.f, 1.f) * 255.f));
                ok[size_t(k)] = 1;
            } catch (const Error& e) {
                why[size_t(k)] = e.what();  // an unreadable file: skipped
            } catch (const std::exception& e) {
                if (!failed.exchange(true)) failure = e.what();
                next = n;
            }
            ++done;
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < std::clamp(threads, 1, 64); ++t) pool.emplace_back(work);
    while (progress && done < n && !failed) {
        progress(done, n);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : pool) t.join();
    if (failed) throw Error("reading the dataset: " + failure);
    if (progress) progress(n, n);
    Dataset d;
    d.width = input.width;
    d.height = input.height;
    d.channels = input.channels;
    d.classNames = set.classNames();
    d.classes = int(std::max<size_t>(1, d.classNames.size()));
    if (kept) kept->clear();
    if (skipped) skipped->clear();
    for (int k = 0; k < n; ++k) {
        if (!ok[size_t(k)]) {
            if (skipped) skipped->push_back(why[size_t(k)]);
            continue;
        }
        d.images.insert(d.images.end(), pixels.begin() + long(size_t(k) * values), pixels.begin() + long(size_t(k + 1) * values));
        d.labels.push_back(uint8_t(std::max(0, set.label(indices[size_t(k)]))));
        if (kept) kept->push_back(k);
        d.count++;
    }
    return d;
}

InputSpec folderInputSpec(const ImageSet& set, int size, bool gray) {
    InputSpec in;
    ImageF first;
    for (int i = 0; i < set.size() && first.empty(); ++i) {
        try {
            first = set.load(i);
        } catch (const Error&) {
        }
    }
    if (first.empty()) throw Error("no readable image in '" + set.spec() + "'");
    int side = 64;
    if (first.width == first.height && first.width % 4 == 0 && first.width >= 16 && first.width <= 128) side = first.width;
    if (size > 0) side = size;
    if (side < 16 || side > 128 || side % 4 != 0) throw Error("--size must be a multiple of 4 in [16, 128], got " + std::to_string(side));
    in.width = in.height = side;
    in.channels = gray || first.channels == 1 ? 1 : 3;
    in.mean.assign(size_t(in.channels), 0.f);
    in.std.assign(size_t(in.channels), 1.f);
    return in;
}


std::unique_ptr<ImageSet> openImageSet(const std::string& spec, int limit, const std::string& defaultSplit) {
    if (spec.rfind("fashion-mnist", 0) == 0 && (spec.size() == 13 || spec[13] == ':')) {
        const std::string split = spec.size() > 13 ? spec.substr(14) : defaultSplit;
        if (split != "train" && split != "test")
            throw Error("--data fashion-mnist takes :train or :test, got '" + spec + "'");
        return std::make_unique<FashionSet>(spec, split == "train", limit);
    }
    return std::make_unique<FolderSet>(spec, limit);
}

}  // namespace preimage
