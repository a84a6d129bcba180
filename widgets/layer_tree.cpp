#include "widgets/layer_tree.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

namespace preimage::widgets {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

}  // namespace

bool filterMatches(const std::string& filter, const std::string& name) {
    const std::string n = lower(name), f = lower(filter);
    size_t i = 0;
    while (i < f.size()) {
        while (i < f.size() && f[i] == ' ') ++i;
        size_t j = i;
        while (j < f.size() && f[j] != ' ') ++j;
        if (j > i && n.find(f.substr(i, j - i)) == std::string::npos) return false;
        i = j;
    }
    return true;
}

LayerTree buildLayerTree(const std::vector<std::string>& names, const std::vector<std::string>& modules) {
    LayerTree t;
    t.nodes.push_back({});
    std::map<std::string, int> byPath{{"", 0}};
    auto nodeFor = [&](const std::string& path, auto& self) -> int {
        if (auto it = byPath.find(path); it != byPath.end()) return it->second;
        const size_t dot = path.rfind('.');
        const int parent = self(dot == std::string::npos ? std::string() : path.substr(0, dot), self);
        LayerTree::Node n;
        n.path = path;
        n.label = dot == std::string::npos ? path : path.substr(dot + 1);
        n.parent = parent;
        const int id = int(t.nodes.size());
        t.nodes.push_back(n);
        t.nodes[size_t(parent)].children.push_back(id);
        byPath[path] = id;
        return id;
    };
    t.nodeOfTap.resize(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
        std::string path = i < modules.size() ? modules[i] : std::string();
        if (path.empty()) path = names[i].substr(0, names[i].find('#'));
        const int n = path.empty() ? 0 : nodeFor(path, nodeFor);
        t.nodes[size_t(n)].taps.push_back(int(i));
        t.nodeOfTap[i] = n;
        for (int k = n; k >= 0; k = t.nodes[size_t(k)].parent)  // taps come in execution order: the first one sticks
            if (t.nodes[size_t(k)].first < 0) t.nodes[size_t(k)].first = int(i);
    }
    for (auto& n : t.nodes)
        std::stable_sort(n.children.begin(), n.children.end(),
                         [&](int a, int b) { return t.nodes[size_t(a)].first < t.nodes[size_t(b)].first; });
    return t;
}

std::vector<int> LayerTree::siblings(int tap) const {
    if (tap < 0 || tap >= int(nodeOfTap.size())) return {};
    const int node = nodeOfTap[size_t(tap)];
    const int parent = node == 0 ? -1 : nodes[size_t(node)].parent;
    std::vector<int> out;
    if (parent < 0) return nodes[0].taps;
    for (int c : nodes[size_t(parent)].children) {
        const auto& n = nodes[size_t(c)];
        if (n.taps.empty()) {
            if (n.first >= 0) out.push_back(n.first);
        } else {
            out.insert(out.end(), n.taps.begin(), n.taps.end());
        }
    }
    return out;
}

std::vector<int> LayerTree::ancestors(int tap) const {
    std::vector<int> out;
    if (tap < 0 || tap >= int(nodeOfTap.size())) return out;
    for (int k = nodeOfTap[size_t(tap)]; k > 0; k = nodes[size_t(k)].parent) out.push_back(k);
    std::reverse(out.begin(), out.end());
    return out;
}

namespace {

struct Drawer {
    const LayerTree& tree;
    const std::vector<TreeTap>& taps;
    int& selected;
    LayerTreeState& state;
    bool reveal;                 // open the selection's branch and scroll to it (the selection changed elsewhere)
    std::vector<char> onPath;    // nodes on the way to the selection
    bool picked = false;
    int rows = 0;

    // The right-hand part of a row: thumbnail and error of a computed tap, the shape otherwise.
    void rowTail(int tap, float labelEnd) {
        const TreeTap& t = taps[size_t(tap)];
        const float h = ImGui::GetTextLineHeight();
        char err[32] = "";
        if (t.running)
            std::snprintf(err, sizeof err, "...");
        else if (t.error >= 0)
            std::snprintf(err, sizeof err, "%.3f", double(t.error));
        const float errW = ImGui::CalcTextSize("0.000").x;
        const float right = ImGui::GetWindowContentRegionMax().x;
        // Right-aligned: before the thumbnail and error once computed, at the edge until then.
        const bool computed = t.running || t.error >= 0;
        const float shapeX = (computed ? right - errW - h - 12.f : right) - ImGui::CalcTextSize(t.shape.c_str()).x;
        if (shapeX > labelEnd + 8.f) {  // else only in the tooltip: the name comes first
            ImGui::SameLine(shapeX);
            ImGui::TextDisabled("%s", t.shape.c_str());
        }
        if (!computed) return;
        ImGui::SameLine(right - errW - h - 4.f);
        if (t.thumbnail)
            ImGui::Image(t.thumbnail, ImVec2(h, h));
        else
            ImGui::Dummy(ImVec2(h, h));
        ImGui::SameLine(right - errW);
        ImGui::TextUnformatted(err);
    }

    void tooltip(int tap) {
        if (!ImGui::IsItemHovered()) return;
        const TreeTap& t = taps[size_t(tap)];
        ImGui::BeginTooltip();
        ImGui::Text("%s", t.name.c_str());
        ImGui::TextDisabled("%s, output %s", t.kind.c_str(), t.shape.c_str());
        if (t.error >= 0) ImGui::Text("feature error %.4f", double(t.error));
        ImGui::EndTooltip();
    }

    static float labelEnd(const std::string& label) {
        return ImGui::GetCursorPosX() + ImGui::GetTreeNodeToLabelSpacing() + ImGui::CalcTextSize(label.c_str()).x;
    }

    void tapRow(int tap, const std::string& label) {
        ++rows;
        const float end = labelEnd(label);
        ImGuiTreeNodeFlags f = ImGuiTreeNodeFlags_Leaf | ImGuiTreeNodeFlags_NoTreePushOnOpen | ImGuiTreeNodeFlags_SpanAvailWidth;
        if (tap == selected) f |= ImGuiTreeNodeFlags_Selected;
        ImGui::PushID(tap);
        ImGui::TreeNodeEx("##tap", f, "%s", label.c_str());
        if (ImGui::IsItemClicked() && tap != selected) {
            selected = tap;
            picked = true;
        }
        tooltip(tap);
        if (reveal && tap == selected) ImGui::SetScrollHereY(0.4f);
        rowTail(tap, end);
        ImGui::PopID();
    }

    void node(int id) {
        const auto& n = tree.nodes[size_t(id)];
        const bool leaf = n.children.empty() && n.taps.size() <= 1;
        if (leaf) {
            if (!n.taps.empty()) tapRow(n.taps[0], n.label);
            return;
        }
        ++rows;
        ImGuiTreeNodeFlags f = ImGuiTreeNodeFlags_OpenOnArrow | ImGuiTreeNodeFlags_OpenOnDoubleClick | ImGuiTreeNodeFlags_SpanAvailWidth;
        const int own = n.taps.empty() ? -1 : n.taps[0];
        if (own >= 0 && own == selected && n.taps.size() == 1) f |= ImGuiTreeNodeFlags_Selected;
        if (reveal && onPath[size_t(id)]) ImGui::SetNextItemOpen(true);
        ImGui::PushID(id);
        const float end = labelEnd(n.label);
        const bool open = ImGui::TreeNodeEx("##node", f, "%s", n.label.c_str());
        if (ImGui::IsItemClicked() && !ImGui::IsItemToggledOpen() && own >= 0 && own != selected) {
            selected = own;
            picked = true;
        }
        if (own >= 0) {
            tooltip(own);
            if (reveal && own == selected) ImGui::SetScrollHereY(0.4f);
            rowTail(own, end);
        } else {
            ImGui::SameLine();
            ImGui::TextDisabled("(%zu)", n.children.size());
        }
        if (open) {
            if (n.taps.size() > 1)  // a module called more than once: one row per call
                for (int t : n.taps) tapRow(t, taps[size_t(t)].name.substr(n.path.size() - n.label.size()));
            for (int c : n.children) node(c);
            ImGui::TreePop();
        }
        ImGui::PopID();
    }
};

}  // namespace

bool layerTree(const LayerTree& tree, const std::vector<TreeTap>& taps, int& selected, LayerTreeState& state) {
    if (tree.nodes.empty()) return false;
    ImGui::SetNextItemWidth(-1.f);
    const bool enter = ImGui::InputTextWithHint("##filter", "filter taps (e.g. layer3 relu)", state.filter, sizeof state.filter,
                                                ImGuiInputTextFlags_EnterReturnsTrue);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Every word must occur in the tap's name; Enter selects the first match");
    const bool reveal = state.shownSelection != selected;
    bool picked = false;
    ImGui::BeginChild("##tree", ImVec2(0, 0), false);
    int rows = 0;
    if (state.filter[0]) {
        std::vector<int> matches;
        for (size_t i = 0; i < taps.size(); ++i)
            if (filterMatches(state.filter, taps[i].name)) matches.push_back(int(i));
        if (enter && !matches.empty() && matches[0] != selected) {
            selected = matches[0];
            picked = true;
        }
        if (matches.empty()) ImGui::TextDisabled("no tap matches '%s'", state.filter);
        Drawer d{tree, taps, selected, state, false, {}};
        ImGuiListClipper clip;
        clip.Begin(int(matches.size()));
        while (clip.Step())
            for (int k = clip.DisplayStart; k < clip.DisplayEnd; ++k) d.tapRow(matches[size_t(k)], taps[size_t(matches[size_t(k)])].name);
        picked |= d.picked;
        rows = d.rows;
    } else {
        Drawer d{tree, taps, selected, state, reveal, std::vector<char>(tree.nodes.size(), 0)};
        for (int a : tree.ancestors(selected)) d.onPath[size_t(a)] = 1;
        for (int t : tree.nodes[0].taps) d.tapRow(t, taps[size_t(t)].name);  // taps of the network itself
        for (int c : tree.nodes[0].children) d.node(c);
        picked |= d.picked;
        rows = d.rows;
    }
    ImGui::EndChild();
    state.visibleRows = rows;
    state.shownSelection = selected;
    return picked;
}

}  // namespace preimage::widgets
