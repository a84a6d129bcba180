// The sample images under assets/samples and which of them fit a model: photographs for colour networks,
// Fashion-MNIST garments for grey ones (assets/samples/samples.json says which is which). Any thread.
#pragma once

#include <string>
#include <vector>

namespace preimage::app {

struct Sample {
    std::string path;  // absolute
    std::string kind;  // "photograph", "fashion-mnist", or "" (a file the catalogue does not list)
    bool isDefault = false;  // the one a first run opens for models of its kind
};

// The folder's images: those samples.json lists, in its order, then any other image file (sorted). Never throws.
std::vector<Sample> loadSamples(const std::string& directory);
// The samples offered for a model with `channels` input channels (3: photographs, 1: Fashion-MNIST; unlisted
// files for both); all of them when none fits.
std::vector<std::string> samplesFor(const std::vector<Sample>& samples, int channels);
// The sample a first run opens on a model with `channels` channels ("" when there are none).
std::string defaultSampleFor(const std::vector<Sample>& samples, int channels);

}  // namespace preimage::app
