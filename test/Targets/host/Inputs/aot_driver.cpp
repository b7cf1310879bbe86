// Links a model compiled ahead of time (sparqc compile -o DIR: DIR/model.o)
// into a program of its own, maps its weights (DIR/model.weights) and runs
// it through its C interface:
//   aot_driver DIR/model.weights INPUT.npy EXPECTED.npy
// The example model takes a [1, 3, 32, 32] image and returns [1, 10] logits.

#include "runtime/io/Npy.h"
#include "runtime/io/WeightsFile.h"
#include "runtime/kernels/MemRef.h"

#include <cmath>
#include <cstdio>

using sparq::kernels::MemRef;

extern "C" void _mlir_ciface_forward(MemRef<float, 4> *input,
                                     MemRef<float, 2> *logits);
// What the code expects of its weights, and where it reads them.
extern "C" const uint64_t __sparq_weights_size, __sparq_weights_digest;
extern "C" const void *__sparq_weights;

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: aot_driver MODEL.weights INPUT.npy EXPECTED.npy\n");
    return 2;
  }
  std::string err;
  auto weights = sparq::io::MappedWeights::open(argv[1], __sparq_weights_size,
                                                __sparq_weights_digest, err);
  if (!weights) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return 2;
  }
  __sparq_weights = weights->data();
  sparq::io::HostTensor input, expected;
  if (!sparq::io::readNpy(argv[2], input, err) ||
      !sparq::io::readNpy(argv[3], expected, err)) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return 2;
  }
  float logits[10];
  auto in =
      sparq::kernels::rowMajor<float, 4>(input.as<float>(), {1, 3, 32, 32});
  auto out = sparq::kernels::rowMajor<float, 2>(logits, {1, 10});
  _mlir_ciface_forward(&in, &out);
  double maxDiff = 0;
  for (int i = 0; i < 10; ++i)
    maxDiff = std::fmax(maxDiff, std::fabs(logits[i] - expected.as<float>()[i]));
  std::printf("max abs diff vs PyTorch: %g\n", maxDiff);
  if (maxDiff > 1e-4)
    return 1;
  std::printf("AOT OK\n");
  return 0;
}
