#include "inference/data/state_log.h"

#include "inference/json_text.h"
#include "render/image.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace preimage {
namespace fs = std::filesystem;
using nlohmann::json;

std::string listingHash(const ImageSet& data, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; ++i)
        for (char c : data.name(i) + "\n") h = (h ^ uint64_t(uint8_t(c))) * 0x100000001b3ull;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

Fd::~Fd() {
    if (fd >= 0) ::close(fd);
}

StateLog::StateLog(const std::string& dir, int rank, bool fresh) : m_dir(dir), m_path(dir + "/" + logName(rank)) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error("cannot make the sweep's state folder '" + dir + "': " + ec.message());
    // One writer of a log at a time: a second sweep on the same state is refused (the lock goes with the process).
    const std::string lock = dir + (rank == 0 ? "/lock" : "/lock." + std::to_string(rank));
    m_lock.fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_lock.fd < 0 || ::flock(m_lock.fd, LOCK_EX | LOCK_NB) != 0)
        throw Error("another sweep is writing '" + dir + "' (wait for it, or give another --csv)");
    if (fresh) {
        fs::remove(m_path, ec);
        if (rank == 0)
            for (const auto& e : fs::directory_iterator(dir, ec))
                if (e.path().filename().string().rfind("lock", 0) != 0) fs::remove_all(e.path(), ec);
    }
}

void StateLog::load(const json& params, const ImageSet& data, std::ostream& out) {
    std::error_code ec;
    std::vector<std::string> logs;
    for (const auto& e : fs::directory_iterator(m_dir, ec)) {
        const std::string f = e.path().filename().string();
        if (f.rfind("log", 0) == 0 && f.size() > 6 && f.substr(f.size() - 6) == ".jsonl") logs.push_back(e.path().string());
    }
    std::sort(logs.begin(), logs.end());
    bool extended = false;
    for (const auto& path : logs) {
        const bool own = path == m_path;
        std::ifstream in(path);
        std::string line;
        std::vector<std::string> lines;
        while (std::getline(in, line)) lines.push_back(line);
        for (size_t k = 0; k < lines.size(); ++k) {
            json j = json::parse(lines[k], nullptr, false);
            if (j.is_discarded()) {
                if (k + 1 == lines.size()) break;  // a line cut by a kill mid-write: done again
                throw Error("the sweep's state '" + path + "' is damaged at line " + std::to_string(k + 1) +
                            "; run with --fresh to start over");
            }
            if (k == 0) {
                checkParams(path, j, params, data, out, extended);
                continue;
            }
            try {
                read(j);
            } catch (const json::exception&) {  // valid JSON without the fields of a line of ours
                throw Error("the sweep's state '" + path + "' is damaged at line " + std::to_string(k + 1) +
                            "; run with --fresh to start over");
            }
        }
        if (!own) continue;
        // This rank's log: rewritten without a cut last line, then appended from here.
        std::string text = jsonLine({{"params", params}});
        for (size_t k = 1; k < lines.size(); ++k)
            if (!json::parse(lines[k], nullptr, false).is_discarded()) text += lines[k] + "\n";
        rewrite(text);
    }
    if (!fs::exists(m_path)) rewrite(jsonLine({{"params", params}}));
    m_fd.fd = ::open(m_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (m_fd.fd < 0) throw Error("cannot append to '" + m_path + "'");
}

void StateLog::read(const json& j) {
    if (j.contains("threads")) m_threads[j.at("layer").get<std::string>()] = j.at("threads").get<int>();
    else if (j.contains("skipped")) m_skipped[j.at("skipped").get<int>()] = j.value("reason", "");
    else if (j.contains("failed")) m_failed[{j.at("failed").get<int>(), j.at("layer").get<std::string>()}] = j.value("reason", "");
    else m_done[{j.at("i").get<int>(), j.at("layer").get<std::string>()}] = Record::from(j);
}

json Record::fields() const {
    json j{{"feature_error", featureError}, {"pixel_rmse", pixelRmse}, {"seconds", seconds}};
    if (hasObjective) {
        j["objective"] = {{"total", total}, {"feature", feature}, {"alpha", alpha}, {"tv", tv}};
        j["evaluations"] = evaluations;
    }
    return j;
}

Record Record::asLogged() const {
    json j = fields();
    shortenFloats(j);
    return from(j);
}

Record Record::from(const json& j) {
    Record r{j.at("feature_error").get<double>(), j.at("pixel_rmse").get<double>(), j.at("seconds").get<double>()};
    if (j.contains("objective") && j.contains("evaluations")) {
        const json& o = j.at("objective");
        r.hasObjective = true;
        r.total = o.at("total").get<double>();
        r.feature = o.at("feature").get<double>();
        r.alpha = o.at("alpha").get<double>();
        r.tv = o.at("tv").get<double>();
        r.evaluations = j.at("evaluations").get<int64_t>();
    }
    return r;
}

std::string StateLog::jsonLine(json j) {
    shortenFloats(j);
    return j.dump() + "\n";
}

void StateLog::append(const std::string& lines) {
    size_t off = 0;
    while (off < lines.size()) {
        const ssize_t w = ::write(m_fd.fd, lines.data() + off, lines.size() - off);
        if (w < 0) throw Error("cannot append to '" + m_path + "'");
        off += size_t(w);
    }
    ::fdatasync(m_fd.fd);
}

std::string StateLog::logName(int rank) { return rank == 0 ? "log.jsonl" : "log." + std::to_string(rank) + ".jsonl"; }

void StateLog::rewrite(const std::string& text) { render::writeFileAtomically(m_path, text); }

void StateLog::checkParams(const std::string& path, const json& j, const json& params, const ImageSet& data,
                          std::ostream& out, bool& extended) {
    const bool known = j.contains("params") && j["params"].is_object() && j["params"].contains("images");
    std::string diff;
    if (known)
        for (auto& [key, value] : params.items())
            if (key != "images" && key != "listing" && (!j["params"].contains(key) || j["params"][key] != value))
                diff += (diff.empty() ? "" : ", ") + key;
    if (!known || !diff.empty())
        throw Error("'" + path + "' holds a sweep with other settings (" + (known ? diff : "format") +
                    "); run with --fresh to start over, or give other --csv");
    const int before = j["params"]["images"].get<int>(), now = params["images"].get<int>();
    if (before > now)
        throw Error("'" + path + "' holds a sweep of " + std::to_string(before) + " images; this one asks for " +
                    std::to_string(now) + " (a larger --limit extends a sweep; for fewer, give other --csv or --fresh)");
    // A log written before listings were kept has none: taken as it is.
    if (j["params"].contains("listing") && j["params"]["listing"] != listingHash(data, before))
        throw Error("the images of --data '" + data.spec() + "' are not the ones '" + path +
                    "' began with (files added, removed or renamed); run with --fresh to start over");
    if (before < now && !extended) {
        out << "extending the sweep in " << path << " from " << before << " to " << now << " images\n";
        extended = true;
    }
}

}  // namespace preimage
