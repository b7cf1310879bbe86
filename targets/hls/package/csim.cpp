// csim.cpp - the C-simulation testbench of a sparq hls package.
//
//   ./csim [PACKAGE_DIR] [--input IN.bin] [--output OUT.bin] [--expect E.bin]
//
// Loads the weights (model.weights, or the C array of weights_data.h where
// the package embeds them), runs sparq_top on the input (int16 activations,
// steps x inputs; default testbench/input.bin) and writes the output
// (default testbench/output.bin). With an expected output (default
// testbench/expected.bin, computed by sparq's fixed-point reference when
// the package was compiled) it counts the outputs that differ and exits
// non-zero if any does: the emitted engine must be bit-exact.

#include "model.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#if SPARQ_WEIGHTS_EMBEDDED
#include "weights_data.h"
#endif

namespace {

bool readFile(const std::string &path, std::vector<uint8_t> &out) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return false;
  std::fseek(f, 0, SEEK_END);
  long n = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  out.resize(n > 0 ? size_t(n) : 0);
  bool ok = n >= 0 && std::fread(out.data(), 1, out.size(), f) == out.size();
  std::fclose(f);
  return ok;
}

bool readActivations(const std::string &path, size_t count,
                     std::vector<sparq_act> &out) {
  std::vector<uint8_t> bytes;
  if (!readFile(path, bytes) || bytes.size() != count * sizeof(sparq_act)) {
    std::fprintf(stderr, "csim: %s: expected %zu int16 values\n", path.c_str(),
                 count);
    return false;
  }
  out.resize(count);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return true;
}

} // namespace

int main(int argc, char **argv) {
  std::string dir = ".", in, out, expect;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--input" || a == "--output" || a == "--expect") && i + 1 < argc)
      (a == "--input" ? in : a == "--output" ? out : expect) = argv[++i];
    else if (a[0] != '-')
      dir = a;
    else {
      std::fprintf(stderr, "usage: csim [DIR] [--input F] [--output F] "
                           "[--expect F]\n");
      return 2;
    }
  }
  bool defaults = in.empty();
  if (in.empty())
    in = dir + "/testbench/input.bin";
  if (out.empty())
    out = dir + "/testbench/output.bin";
  if (expect.empty() && defaults)
    expect = dir + "/testbench/expected.bin";

  std::vector<uint8_t> file;
#if SPARQ_WEIGHTS_EMBEDDED
  const uint8_t *weights = sparq_weights_data;
#else
  std::string path = dir + "/model.weights";
  if (!readFile(path, file) || file.size() < 64 + SPARQ_WEIGHTS_BYTES ||
      std::memcmp(file.data(), "SPARQWT1", 8) != 0) {
    std::fprintf(stderr, "csim: %s is not this model's weights file\n",
                 path.c_str());
    return 1;
  }
  uint64_t payload;
  std::memcpy(&payload, file.data() + 16, 8);
  if (payload != SPARQ_WEIGHTS_BYTES) {
    std::fprintf(stderr,
                 "csim: %s holds %llu bytes of weights, the engine "
                 "was compiled for %llu\n",
                 path.c_str(), (unsigned long long)payload,
                 (unsigned long long)SPARQ_WEIGHTS_BYTES);
    return 1;
  }
  const uint8_t *weights = file.data() + 64;
#endif

  std::vector<sparq_act> x, y(SPARQ_STEPS * SPARQ_OUTPUTS), want;
  if (!readActivations(in, SPARQ_STEPS * SPARQ_INPUTS, x))
    return 1;
  sparq_top(x.data(), y.data(), weights);
  FILE *f = std::fopen(out.c_str(), "wb");
  if (!f || std::fwrite(y.data(), sizeof(sparq_act), y.size(), f) != y.size()) {
    std::fprintf(stderr, "csim: cannot write %s\n", out.c_str());
    return 1;
  }
  std::fclose(f);
  if (expect.empty())
    return 0;
  if (!readActivations(expect, y.size(), want))
    return 1;
  size_t differ = 0, first = y.size();
  for (size_t i = 0; i < y.size(); ++i)
    if (y[i] != want[i] && differ++ == 0)
      first = i;
  if (differ) {
    std::printf("C-simulation: %zu of %zu outputs differ from the reference "
                "(first at %zu: %d, expected %d)\n",
                differ, y.size(), first, y[first], want[first]);
    return 1;
  }
  std::printf("C-simulation: %zu outputs, bit-exact with the reference\n",
              y.size());
  return 0;
}
