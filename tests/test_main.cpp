// doctest entry point for the test binaries. Torch binaries use all cores (libtorch starts with one), as a
// fixed count so that runs are bitwise repeatable (the automatic policy picks counts by timing); ctest runs
// the binaries one after another so that OpenMP pools never oversubscribe the machine.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#ifdef PREIMAGE_TEST_TORCH
#include "inference/engine.h"
#endif

int main(int argc, char** argv) {
#ifdef PREIMAGE_TEST_TORCH
    preimage::setThreads(preimage::usableCores());
#endif
    doctest::Context context(argc, argv);
    return context.run();
}
