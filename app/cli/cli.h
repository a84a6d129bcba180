// The headless command line: `preimage <command> [options]`. Runs on the calling thread; returns the
// process exit code (0 ok, 2 bad input or user error, 1 internal failure) and never throws.
#pragma once

#include "app/cli/args.h"
#include "inference/data/image_set.h"

namespace preimage::dist {
class Group;
}

#include <iosfwd>
#include <string>
#include <vector>

namespace preimage::app {

int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

// The distributed job this command joined (inference/runtime/distributed.h), or nullptr. The commands that scale out
// (sweep --data, train inverter) join the job the environment names (torchrun, srun, or RANK, WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT by hand); the others refuse to run in one.
dist::Group* job();
// Whether this process reports for the job (rank 0, or no job): one progress bar and one summary.
bool leadRank();
// A distributed trainer's --batch is the global batch: refused when smaller than the number of ranks.
void checkGlobalBatch(int batch);

// Shared option sets and their readers.
extern const std::set<std::string> kModelOptions;      // --model --size --mean --std --device
extern const std::set<std::string> kInversionOptions;  // --iters --restarts --seed --lr ...
ModelOptions modelOptions(const Args& args);
InversionParams inversionParams(const Args& args);
// "preimage" and the arguments, as typed (recorded in training manifests).
std::string commandLine(const std::vector<std::string>& argv);
std::set<std::string> unite(std::initializer_list<std::set<std::string>> sets);
// --layers: "all" (default) or comma-separated names, as layer indices in the given order.
std::vector<int> layerList(const Model& model, const std::string& which);

// A folder (or fashion-mnist:split) in memory, prepared to `input`, with a progress bar: every image, or with
// `heldOut` the training part (test false) or the test part (test true: every 10th image). Unreadable files are
// skipped, and `out` is told how many and why (the first); `indices` receives the kept images' positions in the
// set. The images come in a fixed shuffled order (not class by class, as a folder lists them).
Dataset imagesInMemory(const ImageSet& set, const InputSpec& input, bool heldOut, bool test, std::ostream& out,
                       std::vector<int>* indices = nullptr);

// Subcommands (cli_*.cpp). `argv[first]` is the first option after the command word(s).
int cmdLayers(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdFeatures(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdInvert(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdSweep(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdSweepData(const std::vector<std::string>& argv, size_t first, std::ostream& out);  // sweep --data
int cmdTrain(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdEval(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdDream(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdAtlas(const std::vector<std::string>& argv, size_t first, std::ostream& out);  // dream.cpp
int cmdSamples(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdTrainMixer(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdEvalMixer(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdAnalogy(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdTraverse(const std::vector<std::string>& argv, size_t first, std::ostream& out);
int cmdData(const std::vector<std::string>& argv, size_t first, std::ostream& out);  // data shapes
int cmdBench(const std::vector<std::string>& argv, size_t first, std::ostream& out);

}  // namespace preimage::app
