// c10d behind inference/runtime/distributed.h: TCPStore for the rendezvous and the heartbeats, ProcessGroupGloo for
// the collectives.
#include "inference/runtime/distributed.h"

#include "inference/engine.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#ifdef PREIMAGE_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/cuda.h>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <glog/logging.h>

#include <atomic>
#include <condition_variable>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace preimage::dist {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
}

int integerVariable(const char* name, const std::string& value, int lo, int hi) {
    size_t used = 0;
    long v = 0;
    try {
        v = std::stol(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    // Slurm writes counts per node as "2(x3)": the leading number is this node's.
    if (used == 0 || (used != value.size() && value[used] != '(') || v < lo || v > hi)
        throw Error(std::string(name) + "='" + value + "' must be a whole number from " + std::to_string(lo) + " to " +
                    std::to_string(hi));
    return int(v);
}

bool loopback(const std::string& host) {
    return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

// torchrun's error file (torch.distributed.elastic's format), so that its summary names the cause.
void writeErrorFile(const std::string& path, const std::string& message) {
    if (path.empty()) return;
    std::string escaped;
    for (char c : message) {
        if (c == '"' || c == '\\') escaped += '\\';
        if (c == '\n') {
            escaped += "\\n";
            continue;
        }
        escaped += c;
    }
    std::ofstream f(path, std::ios::trunc);
    f << "{\"message\": {\"message\": \"" << escaped << "\", \"extraInfo\": {\"py_callstack\": \"\", \"timestamp\": \""
      << std::time(nullptr) << "\"}}}\n";
}

}  // namespace

std::optional<Launch> launchFromEnvironment() {
    Launch l;
    auto rank = env("RANK"), size = env("WORLD_SIZE");
    if (rank || size) {
        if (!rank || !size) throw Error("a distributed job needs both RANK and WORLD_SIZE (only one is set)");
        l.size = integerVariable("WORLD_SIZE", *size, 1, 1 << 20);
        l.rank = integerVariable("RANK", *rank, 0, l.size - 1);
        l.launcher = env("TORCHELASTIC_RESTART_COUNT") ? "torchrun" : "environment";
        if (auto v = env("LOCAL_RANK")) l.localRank = integerVariable("LOCAL_RANK", *v, 0, l.size - 1);
        if (auto v = env("LOCAL_WORLD_SIZE")) l.localSize = integerVariable("LOCAL_WORLD_SIZE", *v, 1, l.size);
        l.agentStore = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
        if (l.agentStore) l.storePrefix = "/worker/attempt_" + env("TORCHELASTIC_RESTART_COUNT").value_or("0");
    } else if (env("SLURM_PROCID") && env("SLURM_NTASKS") && env("SLURM_STEP_ID")) {  // inside `srun`
        l.size = integerVariable("SLURM_NTASKS", *env("SLURM_NTASKS"), 1, 1 << 20);
        l.rank = integerVariable("SLURM_PROCID", *env("SLURM_PROCID"), 0, l.size - 1);
        l.launcher = "slurm";
        if (auto v = env("SLURM_LOCALID")) l.localRank = integerVariable("SLURM_LOCALID", *v, 0, l.size - 1);
        if (auto v = env("SLURM_NTASKS_PER_NODE")) l.localSize = integerVariable("SLURM_NTASKS_PER_NODE", *v, 1, l.size);
    } else {
        return std::nullopt;
    }
    if (l.size == 1) return std::nullopt;
    auto addr = env("MASTER_ADDR"), port = env("MASTER_PORT");
    if (!addr || !port)
        throw Error("a distributed job (" + l.launcher + ", " + std::to_string(l.size) +
                    " ranks) needs MASTER_ADDR and MASTER_PORT: the address of rank 0's machine and a free port there");
    l.masterAddr = *addr;
    l.masterPort = integerVariable("MASTER_PORT", *port, 1, 65535);
    // Ranks started by hand on one machine (a loopback master) all share it.
    if (!env("LOCAL_WORLD_SIZE") && !env("SLURM_NTASKS_PER_NODE") && loopback(l.masterAddr)) l.localSize = l.size;
    l.errorFile = env("TORCHELASTIC_ERROR_FILE").value_or("");
    return l;
}

std::chrono::milliseconds timeoutFromEnvironment() {
    double seconds = 60;
    if (auto v = env("PREIMAGE_DIST_TIMEOUT")) {
        try {
            seconds = std::stod(*v);
        } catch (const std::exception&) {
            seconds = -1;
        }
        if (!(seconds > 0 && seconds <= 86400))
            throw Error("PREIMAGE_DIST_TIMEOUT='" + *v + "' must be a number of seconds between 0 and 86400");
    }
    return std::chrono::milliseconds(long(seconds * 1000));
}

struct Group::Impl {
    Launch launch;
    std::chrono::milliseconds timeout{60000};
    c10::intrusive_ptr<c10d::TCPStore> tcp;           // the main thread's connection (and the server on rank 0)
    c10::intrusive_ptr<c10d::Store> store;            // under this job's prefix
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef PREIMAGE_CUDA
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // device sums, when every local rank has a GPU of its own
#endif
    int cudaDevice = -1;
    std::thread monitor;
    std::atomic<bool> stopMonitor{false}, failing{false};
    bool finished = false;
    double collectiveSeconds = 0;
    long collectives = 0;

    std::string where() const {
        return "rank " + std::to_string(launch.rank) + " of " + std::to_string(launch.size);
    }
    std::string address() const { return launch.masterAddr + ":" + std::to_string(launch.masterPort); }

    static c10::intrusive_ptr<c10d::Store> prefixed(const Launch& l, c10::intrusive_ptr<c10d::TCPStore> tcp) {
        c10::intrusive_ptr<c10d::Store> s = tcp;
        if (!l.storePrefix.empty()) s = c10::make_intrusive<c10d::PrefixStore>(l.storePrefix, s);
        return c10::make_intrusive<c10d::PrefixStore>("preimage", s);
    }

    c10::intrusive_ptr<c10d::TCPStore> connect(bool server) const {
        c10d::TCPStoreOptions o;
        o.port = uint16_t(launch.masterPort);
        o.isServer = server;
        o.waitWorkers = false;
        o.timeout = timeout;
        return c10::make_intrusive<c10d::TCPStore>(launch.masterAddr, o);
    }

    // Ends this process after one line on stderr (and torchrun's error file): the others are told by the
    // store when it can still be reached.
    [[noreturn]] void stop(const std::string& message, int code, bool tellOthers) {
        failing = true;  // this rank's monitor no longer reports (it would echo this rank's own failure)
        if (tellOthers) {
            try {
                store->set("failure", bytes(message));
                store->add("failures", 1);
            } catch (const std::exception&) {
            }
            // The store's host lingers a moment, so that the others read why before the store goes with it.
            if (launch.rank == 0 && !launch.agentStore) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        }
        std::fflush(stdout);
        std::fprintf(stderr, "\npreimage: %s\n", message.c_str());
        std::fflush(stderr);
        writeErrorFile(launch.errorFile, message);
        std::_Exit(code);
    }

    // Beats this rank's heartbeat and watches the others', on a connection of its own.
    void watch() {
        c10::intrusive_ptr<c10d::Store> s;
        try {
            s = prefixed(launch, connect(false));
        } catch (const std::exception& e) {
            stop(where() + ": cannot open the heartbeat connection to " + address() + ": " + e.what(), 1, false);
        }
        const std::string me = std::to_string(launch.rank);
        std::vector<int64_t> last(size_t(launch.size), -1);
        std::vector<Clock::time_point> changed(size_t(launch.size), Clock::now());
        while (!stopMonitor) {
            try {
                s->add("hb/" + me, 1);
                if (s->add("failures", 0) > 0) {
                    if (stopMonitor || failing) return;
                    stop(text(s->get("failure")) + "; stopping " + where(), 1, false);
                }
                const auto now = Clock::now();
                for (int k = 0; k < launch.size; ++k) {
                    if (k == launch.rank) continue;
                    const int64_t beat = s->add("hb/" + std::to_string(k), 0);
                    if (beat != last[size_t(k)]) {
                        last[size_t(k)] = beat;
                        changed[size_t(k)] = now;
                    } else if (now - changed[size_t(k)] > timeout && !s->check({"left/" + std::to_string(k)})) {
                        if (stopMonitor || failing) return;
                        const double silent = std::chrono::duration<double>(now - changed[size_t(k)]).count();
                        stop("rank " + std::to_string(k) + " of " + std::to_string(launch.size) + " is lost (" +
                                 (beat < 0 ? std::string("it never beat") : "no heartbeat for " + std::to_string(int(silent)) + " s") +
                                 ": killed, out of memory, or its machine is gone); stopping " + where(),
                             1, true);
                    }
                }
            } catch (const std::exception& e) {
                if (stopMonitor || failing) return;
                stop("lost the connection to the job's store at " + address() +
                         (launch.agentStore ? " (torchrun's agent is gone)" : " (rank 0, which hosts it, is gone)") + "; stopping " +
                         where(),
                     1, false);
            }
            for (int i = 0; i < 10 && !stopMonitor; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    // A collective threw (a peer closed its connection, or Gloo's timeout): the monitor names a lost rank
    // within the timeout and ends the process; if it does not, this rank reports the error itself.
    [[noreturn]] void collectiveFailed(const char* what, const std::exception& e) {
        const auto until = Clock::now() + timeout + std::chrono::seconds(3);
        while (Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        stop(where() + ": " + what + " failed: " + e.what(), 1, true);
    }

    template <class F>
    void collective(const char* what, F&& f) {
        const auto t0 = Clock::now();
        try {
            f();
        } catch (const std::exception& e) {
            collectiveFailed(what, e);
        }
        collectiveSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
        collectives++;
    }
};

Group::Group(std::unique_ptr<Impl> impl) : m(std::move(impl)) {}

Group::~Group() {
    m->stopMonitor = true;
    if (m->monitor.joinable()) m->monitor.join();
}

std::unique_ptr<Group> Group::join(const Launch& launch, std::chrono::milliseconds timeout) {
    auto impl = std::make_unique<Impl>();
    impl->launch = launch;
    impl->timeout = timeout;
    Impl& g = *impl;
    const double seconds = double(timeout.count()) / 1000.0;
    const std::string secs = std::to_string(int(std::lround(seconds))) + " s";
    const bool server = launch.rank == 0 && !launch.agentStore;
    // A store that accepts the connection but never answers (another program on the port) blocks c10d's calls
    // without their timeout: a watchdog ends the process if joining takes well past it.
    struct Watchdog {
        std::mutex mutex;
        std::condition_variable done;
        bool joined = false;
        std::thread thread;
        ~Watchdog() {
            {
                std::lock_guard<std::mutex> lock(mutex);
                joined = true;
            }
            done.notify_all();
            if (thread.joinable()) thread.join();
        }
    } watchdog;
    watchdog.thread = std::thread([&] {
        std::unique_lock<std::mutex> lock(watchdog.mutex);
        if (watchdog.done.wait_for(lock, timeout * 2 + std::chrono::seconds(5), [&] { return watchdog.joined; })) return;
        g.stop(g.where() + ": no answer from the job's store at " + g.address() + " within " + secs +
                   " (another program on MASTER_PORT, or a rank 0 that stopped answering)",
               2, false);
    });
    // c10d logs every failed bind and connect attempt through glog; the lines below say what happened, once.
    if (!env("GLOG_minloglevel")) FLAGS_minloglevel = google::GLOG_FATAL;
    try {
        g.tcp = g.connect(server);
    } catch (const std::exception& e) {
        const std::string what = e.what();
        if (server && (what.find("in use") != std::string::npos || what.find("EADDRINUSE") != std::string::npos))
            throw Error(g.where() + ": port " + std::to_string(launch.masterPort) +
                        " is in use on this machine (another job, or an earlier one still running): set another MASTER_PORT");
        if (server)
            throw Error(g.where() + ": cannot host the job's store on port " + std::to_string(launch.masterPort) + ": " +
                        what.substr(0, what.find('\n')));
        throw Error(g.where() + ": cannot reach the job's store at " + g.address() + " within " + secs +
                    (launch.agentStore ? " (torchrun's agent)" : " (is rank 0 running there? is MASTER_ADDR its machine?)"));
    }
    g.store = Impl::prefixed(launch, g.tcp);
    bool storeAnswered = false;
    // Every rank says it is here, then waits for all of them.
    try {
        // Rank 0 writes the job's size; every rank reads it back (a program on the port that is not a c10d
        // store fails here, and so does a rank started with another WORLD_SIZE).
        if (launch.rank == 0) g.store->set("size", bytes(std::to_string(launch.size)));
        const auto sizeBy = Clock::now() + timeout;
        while (!g.store->check({"size"})) {
            if (Clock::now() > sizeBy)
                throw Error(g.where() + ": rank 0 did not join within " + secs +
                            " (not started, or started with another MASTER_ADDR or MASTER_PORT)");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        const std::string jobSize = text(g.store->get("size"));
        storeAnswered = true;
        if (jobSize != std::to_string(launch.size))
            throw Error(g.where() + ": rank 0 started a job of " + jobSize + " ranks, this rank one of " +
                        std::to_string(launch.size) + " (WORLD_SIZE differs between the ranks)");
        g.store->set("joined/" + std::to_string(launch.rank), bytes("1"));
        g.store->add("joined", 1);
        const auto until = Clock::now() + timeout;
        while (g.store->add("joined", 0) < launch.size) {
            if (Clock::now() > until) {
                std::string missing;
                int count = 0;
                for (int k = 0; k < launch.size; ++k)
                    if (!g.store->check({"joined/" + std::to_string(k)})) {
                        if (count < 8) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
                        count++;
                    }
                if (count > 8) missing += " and " + std::to_string(count - 8) + " more";
                throw Error(g.where() + ": rank(s) " + missing + " of " + std::to_string(launch.size) + " never joined within " +
                            secs + " (not started, or started with another MASTER_ADDR, MASTER_PORT or WORLD_SIZE)");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        // Gloo's own rendezvous, on a device that reaches the others.
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        if (auto ifname = env("GLOO_SOCKET_IFNAME"))
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
        else if (loopback(launch.masterAddr))
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else
            options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        options->threads = 2;
        g.gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", g.store),
                                                            launch.rank, launch.size, options);
#ifdef PREIMAGE_CUDA
        // NCCL beside Gloo where every local rank has a GPU of its own (NCCL refuses two ranks on one GPU). Every
        // rank decides alike: the job's launch says how many ranks share a machine.
        const int gpus = torch::cuda::is_available() ? int(torch::cuda::device_count()) : 0;
        if (gpus > 0 && launch.localSize <= gpus && !env("PREIMAGE_DIST_NO_NCCL")) {
            g.cudaDevice = launch.localRank % gpus;
            c10::cuda::set_device(c10::DeviceIndex(g.cudaDevice));
            auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
            ncclOptions->timeout = timeout;
            g.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", g.store),
                                                                launch.rank, launch.size, ncclOptions);
        }
#endif
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        const std::string what = e.what();
        if (!storeAnswered)
            throw Error(g.where() + ": " + g.address() + " does not answer as the job's store (another program on MASTER_PORT?): " +
                        what.substr(0, what.find('\n')));
        throw Error(g.where() + ": joining the job failed: " + what.substr(0, what.find('\n')));
    }
    g.monitor = std::thread([&g] { g.watch(); });
    return std::unique_ptr<Group>(new Group(std::move(impl)));
}

int Group::rank() const { return m->launch.rank; }
int Group::size() const { return m->launch.size; }
int Group::localSize() const { return m->launch.localSize; }
std::string Group::name() const { return m->where(); }
double Group::collectiveSeconds() const { return m->collectiveSeconds; }
long Group::collectives() const { return m->collectives; }

void Group::allReduceSum(float* data, size_t count) {
    if (count == 0) return;
    std::vector<at::Tensor> t{torch::from_blob(data, {int64_t(count)}, torch::kFloat32)};
    m->collective("all-reduce", [&] { m->gloo->allreduce(t)->wait(); });
}

bool Group::deviceCollectives() const {
#ifdef PREIMAGE_CUDA
    return bool(m->nccl);
#else
    return false;
#endif
}

int Group::cudaDevice() const { return deviceCollectives() ? m->cudaDevice : -1; }

std::string Group::backend() const { return deviceCollectives() ? "nccl+gloo" : "gloo"; }

void Group::allReduceSumOnDevice(float* deviceData, size_t count) {
    if (count == 0) return;
#ifdef PREIMAGE_CUDA
    if (m->nccl) {
        std::vector<at::Tensor> t{torch::from_blob(deviceData, {int64_t(count)},
                                                   torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA, m->cudaDevice))};
        m->collective("all-reduce (NCCL)", [&] { m->nccl->allreduce(t)->wait(); });
        return;
    }
#endif
    throw Error(m->where() + ": device collectives need a CUDA build with a GPU per local rank (use allReduceSum)");
}

void Group::allReduceSum(double* data, size_t count) {
    if (count == 0) return;
    std::vector<at::Tensor> t{torch::from_blob(data, {int64_t(count)}, torch::kFloat64)};
    m->collective("all-reduce", [&] { m->gloo->allreduce(t)->wait(); });
}

void Group::broadcast(float* data, size_t count, int root) {
    if (count == 0) return;
    std::vector<at::Tensor> t{torch::from_blob(data, {int64_t(count)}, torch::kFloat32)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    m->collective("broadcast", [&] { m->gloo->broadcast(t, o)->wait(); });
}

std::vector<std::string> Group::gather(const std::string& data, int root) {
    const int n = size();
    // The lengths first (to every rank: each pads to the longest), then the bytes to the root.
    std::vector<at::Tensor> len{torch::tensor({int64_t(data.size())}, torch::kInt64)};
    std::vector<std::vector<at::Tensor>> lens(1);
    for (int k = 0; k < n; ++k) lens[0].push_back(torch::zeros({1}, torch::kInt64));
    m->collective("all-gather", [&] { m->gloo->allgather(lens, len)->wait(); });
    int64_t longest = 1;
    for (const auto& t : lens[0]) longest = std::max(longest, t.item<int64_t>());
    auto mine = torch::zeros({longest}, torch::kUInt8);
    std::memcpy(mine.data_ptr(), data.data(), data.size());
    std::vector<at::Tensor> in{mine};
    std::vector<std::vector<at::Tensor>> out;
    if (rank() == root) {
        out.resize(1);
        for (int k = 0; k < n; ++k) out[0].push_back(torch::zeros({longest}, torch::kUInt8));
    }
    c10d::GatherOptions o;
    o.rootRank = root;
    m->collective("gather", [&] { m->gloo->gather(out, in, o)->wait(); });
    std::vector<std::string> result;
    if (rank() == root)
        for (int k = 0; k < n; ++k)
            result.emplace_back(static_cast<const char*>(out[0][size_t(k)].data_ptr()), size_t(lens[0][size_t(k)].item<int64_t>()));
    return result;
}

void Group::waitForAll(const std::string& point) {
    const auto t0 = Clock::now();
    try {
        m->store->add("at/" + point, 1);
        while (m->store->add("at/" + point, 0) < size()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } catch (const std::exception& e) {
        m->collectiveFailed("waiting for the other ranks", e);
    }
    m->collectiveSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

void Group::finish() {
    if (m->finished) return;
    waitForAll("finish");
    m->stopMonitor = true;
    if (m->monitor.joinable()) m->monitor.join();
    m->finished = true;
    try {
        m->store->set("left/" + std::to_string(rank()), bytes("1"));
        // The store's host stays until every other rank has left (bounded: a rank that vanished now is done anyway).
        if (rank() == 0 && !m->launch.agentStore) {
            const auto until = Clock::now() + m->timeout;
            for (int k = 1; k < size() && Clock::now() < until; ++k)
                while (!m->store->check({"left/" + std::to_string(k)}) && Clock::now() < until)
                    std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    } catch (const std::exception&) {
    }
}

void Group::abort(const std::string& message, int code) { m->stop(m->where() + ": " + message, code, true); }

}  // namespace preimage::dist
