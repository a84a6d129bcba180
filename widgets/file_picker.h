// A file picker written for this app (no native dialog library is packaged): a modal with the current
// folder, its sub-folders and the files matching the filter, a path field, and Open/Cancel.
// ImGui + std::filesystem only; UI thread.
#pragma once

#include <string>
#include <vector>

namespace preimage::widgets {

struct FilePickerState {
    std::string title = "Open";
    std::string directory;                   // current folder (empty: the working directory)
    std::vector<std::string> extensions;     // lower-case with dot, e.g. ".png"; empty = all files
    bool open = false;                       // set true to show the picker
    std::string selected;                    // file name within `directory`
    std::string pathInput;
    std::string error;
    // Filled by the picker when it (re)reads the folder.
    std::vector<std::string> folders, files;
    std::string listedDirectory;
};

// Returns true on the frame the user picks a file; its full path is written to `picked`.
bool filePicker(FilePickerState& state, std::string& picked);

}  // namespace preimage::widgets
