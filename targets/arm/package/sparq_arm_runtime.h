// sparq_arm_runtime.h - what model.cpp of an arm package needs besides its
// tables: the weights in memory and the call of the Halide pipeline, which
// takes one halide_buffer_t per input, weight and output.
#ifndef SPARQ_ARM_RUNTIME_H
#define SPARQ_ARM_RUNTIME_H

#include "sparq_model.h"
#include "sparq_pipeline.h" // written by the generator (Halide's header)
#include "sparq_weights.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sparq_arm {

/// One buffer the pipeline takes, in its argument order.
struct Arg {
  enum Kind { Input, Weight, Output } kind;
  uint64_t index; // the input's or output's position; the weight's offset
  int code, bits; // halide_type_code_t and bits
  int rank;
  int64_t shape[8]; // row-major
};

struct Model {
  std::vector<char> weights;
  std::string error;
  double lastMs = 0;
};

inline bool load(Model *m, const char *dir, uint64_t bytes, uint64_t digest) {
  return sparq_pkg::readWeights(dir, bytes, digest, m->weights, m->error);
}

inline int run(Model *m, const Arg *args, int count, const void *const *inputs,
               void *const *outputs) {
  std::vector<halide_buffer_t> buffers(count);
  std::vector<halide_dimension_t> dims(size_t(count) * 8);
  std::vector<void *> argv(count);
  for (int i = 0; i < count; ++i) {
    const Arg &a = args[i];
    halide_buffer_t &b = buffers[i];
    b = halide_buffer_t();
    const void *host = a.kind == Arg::Input    ? inputs[a.index]
                       : a.kind == Arg::Output ? outputs[a.index]
                                               : m->weights.data() + a.index;
    b.host = static_cast<uint8_t *>(const_cast<void *>(host));
    b.type = halide_type_t(static_cast<halide_type_code_t>(a.code),
                           static_cast<uint8_t>(a.bits), 1);
    b.dimensions = a.rank;
    b.dim = &dims[size_t(i) * 8];
    // Halide's dimension 0 is the innermost: the last of the row-major
    // shape.
    int64_t stride = 1;
    for (int d = 0; d < a.rank; ++d) {
      int64_t extent = a.shape[a.rank - 1 - d];
      b.dim[d] = halide_dimension_t(0, int32_t(extent), int32_t(stride));
      stride *= extent;
    }
    argv[i] = &b;
  }
  auto start = std::chrono::steady_clock::now();
  int rc = sparq_pipeline_argv(argv.data());
  m->lastMs = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();
  if (rc != 0) {
    m->error = "the Halide pipeline failed with error " + std::to_string(rc);
    return -1;
  }
  return 0;
}

} // namespace sparq_arm

#endif // SPARQ_ARM_RUNTIME_H
