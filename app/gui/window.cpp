// The window and the frame loop: GLFW + OpenGL 3.3 core + Dear ImGui. `preimage [gui] [options]`.
#include "app/cli/args.h"
#include "inference/json_text.h"
#include "app/gui/app.h"
#include "app/gui/script.h"

#include "render/gl/gl.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <iostream>

namespace preimage::app {
namespace {

std::vector<std::string> g_dropped;  // filled by the GLFW drop callback (UI thread, inside glfwPollEvents)
double g_dropX = -1, g_dropY = -1;    // where (window coordinates, as ImGui's mouse)

void onDrop(GLFWwindow* window, int count, const char** paths) {
    for (int i = 0; i < count; ++i) g_dropped.emplace_back(paths[i]);
    glfwGetCursorPos(window, &g_dropX, &g_dropY);
}

void onGlfwError(int code, const char* what) { std::fprintf(stderr, "preimage: GLFW error %d: %s\n", code, what); }

float percentile(std::vector<float> v, double q) {
    if (v.empty()) return 0.f;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

void setupStyle(float scale) {
    ImGui::StyleColorsDark();
    ImGuiStyle& s = ImGui::GetStyle();
    s.WindowRounding = 0.f;
    s.FrameRounding = 4.f;
    s.GrabRounding = 4.f;
    s.ChildRounding = 4.f;
    s.PopupRounding = 4.f;
    s.WindowPadding = ImVec2(10, 10);
    s.FramePadding = ImVec2(7, 4);
    s.ItemSpacing = ImVec2(8, 6);
    s.Colors[ImGuiCol_WindowBg] = ImVec4(0.105f, 0.11f, 0.125f, 1.f);
    s.Colors[ImGuiCol_MenuBarBg] = ImVec4(0.08f, 0.085f, 0.1f, 1.f);
    s.ScaleAllSizes(scale);
}

void loadFont(float size) {
    ImGuiIO& io = ImGui::GetIO();
    for (const char* f : {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"})
        if (std::filesystem::exists(f) && io.Fonts->AddFontFromFileTTF(f, size)) return;
    ImFontConfig cfg;
    cfg.SizePixels = size;
    io.Fonts->AddFontDefault(&cfg);  // ProggyClean, scaled
}

}  // namespace

int runGui(const std::vector<std::string>& argv) {
    size_t first = argv.size() >= 2 && argv[1] == "gui" ? 2 : 1;
    std::optional<Args> parsed;
    try {
        parsed.emplace(argv, first,
                       std::set<std::string>{"model", "image", "script", "screenshot", "report", "width", "height",
                                             "font-size", "size", "inverters"},
                       std::set<std::string>{"stats", "gray"}, "gui");
    } catch (const Error& e) {
        std::cerr << "preimage: " << e.what() << "\n";
        return 2;
    } catch (const HelpRequest& h) {
        std::cout << "usage: preimage [gui] [options]   the desktop app\noptions:";
        for (const auto& o : h.options) std::cout << " " << o;
        std::cout << "\n";
        return 0;
    }
    const Args& a = *parsed;
    Settings settings = Settings::load();
    if (a.has("size")) settings.modelSize = a.integer("size", 0);
    if (a.has("gray")) settings.modelGray = true;
    std::unique_ptr<Script> script;
    try {
        if (a.has("script")) script = std::make_unique<Script>(a.str("script"));
    } catch (const Error& e) {
        std::cerr << "preimage: " << e.what() << "\n";
        return 2;
    }
    const bool automated = script || a.has("screenshot");

    glfwSetErrorCallback(onGlfwError);
    if (!glfwInit()) {
        std::cerr << "preimage: cannot open a window (no display? run under xvfb-run, or use the command line: "
                     "preimage help)\n";
        return 2;
    }
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GL_TRUE);
    int width = a.integer("width", automated ? 1440 : settings.windowWidth);
    int height = a.integer("height", automated ? 900 : settings.windowHeight);
    // Never larger than 90% of the monitor's work area (a 1440x900 default on a 1280x720 screen would hide the
    // status line and the layers); the size the user leaves it at is remembered in settings.json.
    if (GLFWmonitor* monitor = glfwGetPrimaryMonitor(); monitor && !a.has("width") && !a.has("height")) {
        int wx = 0, wy = 0, ww = 0, wh = 0;
        glfwGetMonitorWorkarea(monitor, &wx, &wy, &ww, &wh);
        if (ww > 0 && wh > 0) {
            width = std::min(width, int(0.9 * ww));
            height = std::min(height, int(0.9 * wh));
        }
    }
    GLFWwindow* window = glfwCreateWindow(width, height, "Preimage", nullptr, nullptr);
    if (!window) {
        glfwTerminate();
        std::cerr << "preimage: cannot create an OpenGL 3.3 core window\n";
        return 2;
    }
    if (!automated && settings.windowX >= 0 && settings.windowY >= 0) glfwSetWindowPos(window, settings.windowX, settings.windowY);
    glfwMakeContextCurrent(window);
    glfwSwapInterval(automated ? 0 : 1);
    glfwSetDropCallback(window, onDrop);

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGui::GetIO().IniFilename = nullptr;  // the layout is computed; window geometry lives in settings.json
    float xs = 1.f, ys = 1.f;
    glfwGetWindowContentScale(window, &xs, &ys);
    loadFont(float(a.integer("font-size", 16)) * std::max(1.f, xs));
    setupStyle(std::max(1.f, xs));
    ImGui_ImplGlfw_InitForOpenGL(window, true);
    ImGui_ImplOpenGL3_Init("#version 330 core");

    int code = 0;
    nlohmann::json report;
    {
        App app(settings, a.str("model"), a.str("image"), a.str("inverters"));
        using Clock = std::chrono::steady_clock;
        std::vector<float> intervals;
        auto last = Clock::now();
        std::string finalShot = a.str("screenshot");
        bool scriptDone = !script;
        int settleFrames = 3;  // after the script: a few frames so the last state is drawn
        while (!glfwWindowShouldClose(window)) {
            if (automated || !app.idle()) glfwPollEvents();
            else glfwWaitEventsTimeout(0.1);  // idle: no busy loop
            const auto t0 = Clock::now();
            if (!g_dropped.empty()) {
                app.onDrop(g_dropped, float(g_dropX), float(g_dropY));
                g_dropped.clear();
            }
            ImGui_ImplOpenGL3_NewFrame();
            ImGui_ImplGlfw_NewFrame();
            if (script) script->applyInput();
            ImGui::NewFrame();
            if (!scriptDone) scriptDone = script->update(app);
            int fbw = 0, fbh = 0;
            glfwGetFramebufferSize(window, &fbw, &fbh);
            app.frame(fbw, fbh);
            ImGui::Render();
            glViewport(0, 0, fbw, fbh);
            glClearColor(0.08f, 0.085f, 0.1f, 1.f);
            glClear(GL_COLOR_BUFFER_BIT);
            ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
            render::glCheck("frame");
            const float ms = std::chrono::duration<float, std::milli>(Clock::now() - t0).count();
            app.stats().frameMs.push_back(ms);
            if (!app.idle()) app.stats().busyFrameMs.push_back(ms);
            std::string shot = script ? script->takeScreenshotRequest() : "";
            if (!shot.empty() || (scriptDone && automated && settleFrames == 0 && !finalShot.empty())) {
                const std::string path = shot.empty() ? finalShot : shot;
                try {
                    app.screenshot(render::readFramebuffer(fbw, fbh), path);  // encoded and written on the file thread
                } catch (const std::exception& e) {
                    std::cerr << "preimage: " << e.what() << "\n";
                    code = 2;
                }
                if (shot.empty()) finalShot.clear();
            }
            glfwSwapBuffers(window);
            const auto now = Clock::now();
            intervals.push_back(std::chrono::duration<float, std::milli>(now - last).count());
            last = now;
            if (automated && scriptDone && settleFrames-- <= 0 && finalShot.empty()) break;
        }
        if (script && script->failed()) {
            std::cerr << "preimage: script failed: " << script->failure() << "\n";
            code = 1;
        }
        auto& st = app.stats();
        report = {{"errors", app.errorLog()},
                  {"frames", st.frameMs.size()},
                  {"frame_ms_p50", percentile(st.frameMs, 0.5)},
                  {"frame_ms_p95", percentile(st.frameMs, 0.95)},
                  {"frame_ms_max", percentile(st.frameMs, 1.0)},
                  {"busy_frames", st.busyFrameMs.size()},
                  {"busy_frame_ms_p95", percentile(st.busyFrameMs, 0.95)},
                  {"frame_interval_ms_p95", percentile(intervals, 0.95)},
                  {"uploads", st.uploads},
                  {"device_uploads", st.deviceUploads},
                  {"upload_path", app.uploadPath()},
                  {"device", app.model() ? app.model()->device : ""},
                  {"stale_frames_dropped", st.staleFramesDropped},
                  {"first_preview_s", st.firstPreviewSeconds},
                  {"first_result_s", st.firstResultSeconds},
                  {"first_result_optimizer", st.firstOptimizer},
                  {"first_result_objective", st.firstObjective},
                  {"first_within_10pct_s", st.firstWithin10PercentSeconds},
                  {"model", app.model() ? app.model()->name : ""},
                  {"layer_count", app.model() ? app.model()->layers.size() : 0},
                  {"layer", app.model() ? app.model()->layers[size_t(app.layer())].name : ""},
                  {"feature_error", app.currentResult() ? app.currentResult()->featureError : -1.f},
                  {"preimage_rect", {app.preimageRect()[0], app.preimageRect()[1], app.preimageRect()[2], app.preimageRect()[3]}},
                  {"learned_feature_error", app.learned() ? app.learned()->featureError : -1.f},
                  {"status", app.status()}};
        report["view"] = app.viewReport();
        const auto lr = app.latentReport();
        report["latent"] = {{"decoded_class", lr.decodedClass}, {"analogy_class", lr.analogyClass},
                            {"slot_classes", lr.slotClasses}, {"swapped", lr.swapped},
                            {"decode_ms", lr.decodeMs}, {"decodes", lr.decodes}, {"traversal", lr.traversalWritten},
                            {"chunk_labels", lr.chunkLabels}};
        if (script) report["script"] = script->log();
        if (!automated) {
            glfwGetWindowPos(window, &app.settings().windowX, &app.settings().windowY);
            glfwGetWindowSize(window, &app.settings().windowWidth, &app.settings().windowHeight);
        }
    }  // App (worker, textures) goes while the context is alive
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    glfwDestroyWindow(window);
    glfwTerminate();

    if (a.has("report")) render::writeFileAtomically(a.str("report"), jsonText(report));
    if (a.has("stats"))
        std::fprintf(stderr, "frames %zu: UI work p50 %.2f ms, p95 %.2f ms (p95 %.2f ms while a job ran), frame interval p95 %.2f ms\n",
                     size_t(report["frames"]), report["frame_ms_p50"].get<double>(), report["frame_ms_p95"].get<double>(),
                     report["busy_frame_ms_p95"].get<double>(), report["frame_interval_ms_p95"].get<double>());
    return code;
}

}  // namespace preimage::app
