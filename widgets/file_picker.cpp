#include "widgets/file_picker.h"

#include <imgui.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace preimage::widgets {
namespace {

void refresh(FilePickerState& s) {
    s.folders.clear();
    s.files.clear();
    s.error.clear();
    std::error_code ec;
    if (s.directory.empty()) s.directory = fs::current_path(ec).string();
    for (fs::directory_iterator it(s.directory, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        std::error_code e2;
        if (it->is_directory(e2)) {
            s.folders.push_back(name);
        } else {
            std::string ext = it->path().extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
            if (s.extensions.empty() || std::find(s.extensions.begin(), s.extensions.end(), ext) != s.extensions.end())
                s.files.push_back(name);
        }
    }
    if (ec) s.error = "cannot list " + s.directory + ": " + ec.message();
    std::sort(s.folders.begin(), s.folders.end());
    std::sort(s.files.begin(), s.files.end());
    s.listedDirectory = s.directory;
}

void enter(FilePickerState& s, const fs::path& dir) {
    s.directory = fs::weakly_canonical(dir).string();
    s.selected.clear();
    refresh(s);
}

}  // namespace

bool filePicker(FilePickerState& s, std::string& picked) {
    bool done = false;
    if (s.open) {
        ImGui::OpenPopup(s.title.c_str());
        s.open = false;
        refresh(s);
        s.pathInput = s.directory;
    }
    const ImVec2 vp = ImGui::GetMainViewport()->Size;
    ImGui::SetNextWindowSize(ImVec2(std::min(720.f, vp.x - 40.f), std::min(520.f, vp.y - 40.f)), ImGuiCond_Appearing);
    if (!ImGui::BeginPopupModal(s.title.c_str(), nullptr, ImGuiWindowFlags_NoSavedSettings)) return false;
    if (s.listedDirectory != s.directory) refresh(s);

    if (ImGui::Button("Up")) enter(s, fs::path(s.directory).parent_path());
    ImGui::SameLine();
    if (ImGui::Button("Home")) enter(s, std::getenv("HOME") ? std::getenv("HOME") : "/");
    ImGui::SameLine();
    char buf[1024];
    std::strncpy(buf, s.pathInput.c_str(), sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    ImGui::SetNextItemWidth(-1);
    if (ImGui::InputText("##path", buf, sizeof buf, ImGuiInputTextFlags_EnterReturnsTrue)) {
        std::error_code ec;
        if (fs::is_directory(buf, ec)) {
            enter(s, buf);
        } else if (fs::is_regular_file(buf, ec)) {
            picked = fs::weakly_canonical(buf).string();
            done = true;
        } else {
            s.error = std::string("no such file or folder: ") + buf;
        }
    } else {
        s.pathInput = buf;
    }
    if (!ImGui::IsAnyItemActive() && s.pathInput != buf) s.pathInput = s.directory;

    const float footer = ImGui::GetFrameHeightWithSpacing() * 2.f;
    ImGui::BeginChild("##entries", ImVec2(0, -footer), true);
    for (const auto& f : s.folders) {
        if (ImGui::Selectable(("[dir]  " + f).c_str(), false, ImGuiSelectableFlags_AllowDoubleClick) &&
            ImGui::IsMouseDoubleClicked(0)) {
            enter(s, fs::path(s.directory) / f);
            break;
        }
    }
    for (const auto& f : s.files) {
        const bool sel = f == s.selected;
        if (ImGui::Selectable(f.c_str(), sel, ImGuiSelectableFlags_AllowDoubleClick)) {
            s.selected = f;
            if (ImGui::IsMouseDoubleClicked(0)) {
                picked = (fs::path(s.directory) / f).string();
                done = true;
            }
        }
    }
    if (s.folders.empty() && s.files.empty()) ImGui::TextDisabled("(no matching files here)");
    ImGui::EndChild();

    if (!s.error.empty()) ImGui::TextColored(ImVec4(1.f, 0.45f, 0.4f, 1.f), "%s", s.error.c_str());
    else if (!s.extensions.empty()) {
        std::string exts;
        for (const auto& e : s.extensions) exts += (exts.empty() ? "" : " ") + e;
        ImGui::TextDisabled("showing %s", exts.c_str());
    }
    ImGui::BeginDisabled(s.selected.empty());
    if (ImGui::Button("Open", ImVec2(110, 0))) {
        picked = (fs::path(s.directory) / s.selected).string();
        done = true;
    }
    ImGui::EndDisabled();
    ImGui::SameLine();
    if (ImGui::Button("Cancel", ImVec2(110, 0)) || ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape))) ImGui::CloseCurrentPopup();
    if (done) ImGui::CloseCurrentPopup();
    ImGui::EndPopup();
    return done;
}

}  // namespace preimage::widgets
