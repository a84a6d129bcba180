// What `preimage dream`, `preimage atlas` and the app's Dream tab write about preferred inputs: the JSON of one
// result (the same keys everywhere), the atlas image, and the transformations as text. Any thread.
#pragma once

#include "inference/inversion/dream.h"
#include "render/image.h"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace preimage::app {

// Every number of a result: unit, layer, channel, class (name), parametrisation, activation (start, final), the
// robustness and transfer numbers, accentuation's distance and bound, iterations, seconds.
nlohmann::json dreamResultJson(const DreamResult& r, const std::vector<std::string>& classNames);

// The atlas: the units' images in a grid (`columns`, 0: about square), each titled by its channel (or class name)
// and subtitled with its activation (and the judge's rank when there is one).
render::Image atlasGrid(const std::vector<DreamResult>& results, const std::vector<std::string>& classNames, int columns = 0,
                        int cellSize = 96);
// The same images as plain tiles (no labels, `gap` pixels apart), for the app's texture; cell c of the grid is at
// column c % columns, row c / columns.
ImageF atlasMosaic(const std::vector<std::shared_ptr<const DreamResult>>& results, int columns, int tile, int gap = 1);

// Comma-separated items over none: a base, "standard" (lucid's), "maco" (crops) or "none", and key=value pairs that
// change it: pad=12, jitter=8, scale=0.95-1.05 (five values), rotate=5, jitter2=4, crops=4, crop=0.5-0.9, noise=0.05,
// blur=1 ("standard,blur=1": lucid's with a blur). Throws Error naming the bad item.
DreamTransforms parseTransforms(const std::string& text);
std::string transformsText(const DreamTransforms& t);  // the same syntax, what ran

// The display name of a unit: "Egyptian cat (285)" for a class with a name, else the unit as given.
std::string unitTitle(const DreamResult& r, const std::vector<std::string>& classNames);

}  // namespace preimage::app
