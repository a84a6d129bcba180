// doctest entry point for the test binaries. Torch binaries use all cores (libtorch starts with one);
// ctest runs the binaries one after another so that OpenMP pools never oversubscribe the machine.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#ifdef PREIMAGE_TEST_TORCH
#include "inference/engine.h"
#endif

int main(int argc, char** argv) {
#ifdef PREIMAGE_TEST_TORCH
    preimage::setThreads(0);
#endif
    doctest::Context context(argc, argv);
    return context.run();
}
