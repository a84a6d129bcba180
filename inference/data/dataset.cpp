#include "inference/data/dataset.h"

#include <zlib.h>

#include <filesystem>

namespace preimage {
namespace {

std::vector<uint8_t> gunzip(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw Error("cannot open '" + path + "'");
    std::vector<uint8_t> out;
    uint8_t buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
    int err = 0;
    const char* msg = gzerror(f, &err);
    std::string what = (n < 0 || (err != Z_OK && err != Z_STREAM_END)) ? std::string(msg ? msg : "read error") : "";
    gzclose(f);
    if (!what.empty()) throw Error("'" + path + "' is corrupt: " + what);
    return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
    return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | uint32_t(b[at + 3]);
}

}  // namespace

ImageF Dataset::image(int i) const {
    ImageF im;
    im.width = width;
    im.height = height;
    im.channels = channels;
    const size_t plane = size_t(width) * size_t(height), c = size_t(channels);
    im.pixels.resize(plane * c);
    const uint8_t* src = images.data() + size_t(i) * plane * c;
    for (size_t k = 0; k < plane; ++k)
        for (size_t j = 0; j < c; ++j) im.pixels[k * c + j] = float(src[j * plane + k]) / 255.f;
    return im;
}

std::string fashionMnistDir() {
    if (const char* env = std::getenv("PREIMAGE_FASHION_MNIST"); env && *env) return env;
    return "/usr/share/datasets/fashion-mnist";
}

Dataset loadFashionMnist(bool train, int limit, const std::string& dirArg) {
    namespace fs = std::filesystem;
    const std::string dir = dirArg.empty() ? fashionMnistDir() : dirArg;
    const std::string prefix = train ? "train" : "t10k";
    const std::string imagesPath = dir + "/" + prefix + "-images-idx3-ubyte.gz";
    const std::string labelsPath = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
    for (const auto& p : {imagesPath, labelsPath})
        if (!fs::exists(p))
            throw Error("Fashion-MNIST not found: '" + p + "' is missing (install the Debian package dataset-fashion-mnist)");
    auto img = gunzip(imagesPath);
    auto lab = gunzip(labelsPath);
    if (img.size() < 16 || be32(img, 0) != 2051) throw Error("'" + imagesPath + "' is not an IDX image file");
    if (lab.size() < 8 || be32(lab, 0) != 2049) throw Error("'" + labelsPath + "' is not an IDX label file");
    Dataset d;
    d.count = int(be32(img, 4));
    d.height = int(be32(img, 8));
    d.width = int(be32(img, 12));
    if (int(be32(lab, 4)) != d.count) throw Error("Fashion-MNIST image and label counts differ");
    const size_t n = size_t(d.width) * size_t(d.height);
    if (img.size() != 16 + n * size_t(d.count) || lab.size() != 8 + size_t(d.count))
        throw Error("Fashion-MNIST files are truncated");
    if (limit > 0 && limit < d.count) d.count = limit;
    d.images.assign(img.begin() + 16, img.begin() + 16 + long(n * size_t(d.count)));
    d.labels.assign(lab.begin() + 8, lab.begin() + 8 + d.count);
    d.classNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    for (uint8_t l : d.labels)
        if (l >= d.classes) throw Error("Fashion-MNIST label out of range");
    return d;
}

}  // namespace preimage
