// Scale-out on PyTorch's own distributed engine (c10d): the job's rank and size, read from the environment the
// field's launchers set (torchrun, Slurm, or variables by hand), and the few collectives the dataset commands
// use (Gloo on the CPU; NCCL would drop in behind the same calls). Nothing else of the tool knows c10d.
//
// Failures are bounded in time: every rank beats a heartbeat into the job's store from a thread of its own and
// watches the others'. A rank whose heartbeat stops for the timeout (killed, out of memory, its machine gone),
// or one that reports its own failure, makes every other rank print one line naming it, write torchrun's error
// file when it is set, and exit non-zero at once (destroying a Gloo group mid-operation blocks, so no rank tries).
// Torch-free header.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace preimage::dist {

// Where this process sits in a job, and how to reach the job's store.
struct Launch {
    int rank = 0, size = 1;
    int localRank = 0, localSize = 1;  // on this machine
    std::string masterAddr;
    int masterPort = 0;
    bool agentStore = false;           // torchrun's agent hosts the store: every rank is a client
    std::string storePrefix;           // torchrun: /worker/attempt_<restart count>
    std::string launcher;              // "torchrun", "slurm" or "environment"
    std::string errorFile;             // TORCHELASTIC_ERROR_FILE, when set
};

// The job the environment names: torchrun's RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT), Slurm's SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID (SLURM_NTASKS_PER_NODE) with MASTER_ADDR and MASTER_PORT, or RANK/WORLD_SIZE/MASTER_* set by
// hand. nullopt when none is named, or it names a job of one process. Throws Error for an incomplete or
// inconsistent one (a rank out of range, no master address).
std::optional<Launch> launchFromEnvironment();

// Seconds a rank waits for the others to join and for a silent rank before calling it lost:
// PREIMAGE_DIST_TIMEOUT, default 60.
std::chrono::milliseconds timeoutFromEnvironment();

class Group {
public:
    // Joins the job: rank 0 hosts the store (unless torchrun's agent does), every rank waits until all have
    // joined, then the Gloo group forms. Throws Error with one clear line for a port in use, a master that
    // cannot be reached, or ranks that never join, within `timeout`.
    static std::unique_ptr<Group> join(const Launch& launch, std::chrono::milliseconds timeout);
    ~Group();
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;

    int rank() const;
    int size() const;
    int localSize() const;
    std::string name() const;  // "rank 1 of 2"

    // Collectives: every rank calls them in the same order. Sums in place over the ranks (host memory: Gloo).
    void allReduceSum(float* data, size_t count);
    void allReduceSum(double* data, size_t count);
    void broadcast(float* data, size_t count, int root);
    // CUDA builds with a GPU per local rank: NCCL sums device memory in place (`deviceData` on this rank's GPU,
    // cudaDevice()). Where that is not so (CPU builds, no GPU, more local ranks than GPUs: NCCL needs one GPU per
    // rank) deviceCollectives() is false and callers use the host calls above. The choice is made at join().
    bool deviceCollectives() const;
    int cudaDevice() const;  // this rank's GPU (local rank modulo the GPUs), -1 without device collectives
    std::string backend() const;  // "gloo" or "nccl+gloo" (NCCL for device sums, Gloo for the rest)
    void allReduceSumOnDevice(float* deviceData, size_t count);
    // Every rank's bytes, in rank order, on `root` (the others get nothing).
    std::vector<std::string> gather(const std::string& bytes, int root = 0);
    // Waits however long the slowest rank takes to arrive (work of hours), bounded only by the heartbeats.
    void waitForAll(const std::string& point);
    // Waits for every rank, then leaves in order: the store's host goes last.
    void finish();

    // This rank failed: the others are told (they stop naming it), this one prints `message` and exits with `code`.
    [[noreturn]] void abort(const std::string& message, int code = 1);

    // Seconds spent in collectives, and how many (for the benchmarks).
    double collectiveSeconds() const;
    long collectives() const;

    struct Impl;

private:
    explicit Group(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m;
};

}  // namespace preimage::dist
