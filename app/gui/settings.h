// Settings persisted between runs (last model, image, recent files, inversion parameters, window
// geometry), as JSON in $PREIMAGE_CONFIG_DIR, $XDG_CONFIG_HOME/preimage or ~/.config/preimage.
// Saved atomically. load() on the UI thread at start; save() blocks on the disk: the Session calls it on its
// file thread (with a copy).
#pragma once

#include "inference/engine.h"
#include "widgets/params_panel.h"

#include <string>
#include <vector>

namespace preimage::app {

struct Settings {
    std::string model = "squeezenet";  // the trained ImageNet network: the paper's figure on a first run
    int modelSize = 0;       // TorchScript input side (0 = 224)
    bool modelGray = false;
    std::string image;       // last image ("" = first sample)
    std::string layer;       // last layer name
    std::vector<std::string> recentImages, recentModels;
    widgets::InversionSettings inversion;
    int windowX = -1, windowY = -1, windowWidth = 1440, windowHeight = 900;
    std::string exportDir;   // "" = the working directory

    static std::string directory();
    static Settings load();  // defaults when missing or unreadable
    void save() const;       // errors are reported to stderr, never thrown
    static void remember(std::vector<std::string>& list, const std::string& item, size_t keep = 10);
};

// The panel's settings as the engine's parameters and back (inference/inversion/params.h has the one JSON
// mapping and the limits). tvByDepth maps to lambdaTv < 0; the panel keeps its slider's value meanwhile.
InversionParams toParams(const widgets::InversionSettings& s);
widgets::InversionSettings toSettings(const InversionParams& p, const widgets::InversionSettings& base = {});

}  // namespace preimage::app
