// The resumable sweep's state: an append-only log of finished (image, layer) work beside the CSV
// (NAME.csv.state/log.jsonl), flushed to the disk line by line, with the run's parameters on its first line.
// Lines: {"params": ...} first, then {"threads": n, "layer": L}, {"i": k, "layer": L, "feature_error": ...,
// "pixel_rmse": ..., "seconds": ..., "objective": {...}, "evaluations": n}, {"skipped": k, ...} and
// {"failed": k, "layer": L, ...}.
// In a distributed job each rank appends to a log of its own (log.jsonl for rank 0, log.R.jsonl for rank R)
// and reads every log in the folder, so that a rerun with another number of ranks keeps all that is done.
// One thread (the command's); one process writes a log at a time (an flock, refused with an Error otherwise).
#pragma once

#include "inference/data/image_set.h"

#include <nlohmann/json.hpp>

#include <map>
#include <ostream>
#include <string>
#include <utility>

namespace preimage {

// A fingerprint of the first n names of a dataset (FNV-1a over "name\n"...): a resumed sweep checks that its
// images are the ones it began with (a file added to or removed from a folder shifts every position after it).
std::string listingHash(const ImageSet& data, int n);

// A file descriptor closed when it goes (also when a constructor that opened it throws).
struct Fd {
    int fd = -1;
    Fd() = default;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
};

// One finished (image, layer): its numbers as the log, the gather of a distributed run and the JSON table hold them.
// Logs written before the objective was recorded lack "objective" and "evaluations": read back without them
// (hasObjective false), and the JSON leaves them out for those rows.
struct Record {
    double featureError = 0, pixelRmse = 0, seconds = 0;
    bool hasObjective = false;
    double total = 0, feature = 0, alpha = 0, tv = 0;  // the objective as minimised (InversionResult::Objective)
    int64_t evaluations = 0;                           // forward + backward passes of the network for this image

    nlohmann::json fields() const;  // {"feature_error", "pixel_rmse", "seconds"[, "objective", "evaluations"]}
    static Record from(const nlohmann::json& j);
    // The record as a resumed run reads it back from the log (its floats shortened as the log writes them), so that a
    // table made now and one made after a resume agree to the last digit.
    Record asLogged() const;
};

class StateLog {
public:
    // Takes this rank's lock and, with `fresh`, clears the folder (rank 0) or this rank's log. Then load().
    StateLog(const std::string& dir, int rank, bool fresh);
    StateLog(const StateLog&) = delete;
    StateLog& operator=(const StateLog&) = delete;

    // Reads every log of the folder. `params` holds "images" (the count) and "listing" (listingHash of them); a
    // log of fewer images whose listing is the prefix of this one is extended (a larger --limit), one of more
    // is refused; other differences in `params` are refused naming the keys.
    void load(const nlohmann::json& params, const ImageSet& data, std::ostream& out);
    // One line of a log (not the params line) into the maps.
    void read(const nlohmann::json& j);
    static std::string jsonLine(nlohmann::json j);
    void append(const std::string& lines);  // written and flushed to the disk before returning
    const std::string& dir() const { return m_dir; }
    const std::string& path() const { return m_path; }

    std::map<std::pair<int, std::string>, Record> m_done;
    std::map<std::string, int> m_threads;
    std::map<int, std::string> m_skipped;
    std::map<std::pair<int, std::string>, std::string> m_failed;  // (image, layer) that could not be inverted

private:
    static std::string logName(int rank);
    void rewrite(const std::string& text);
    static void checkParams(const std::string& path, const nlohmann::json& j, const nlohmann::json& params,
                            const ImageSet& data, std::ostream& out, bool& extended);

    std::string m_dir, m_path;
    Fd m_lock, m_fd;  // the lock first: it outlives the log's descriptor
};

}  // namespace preimage
