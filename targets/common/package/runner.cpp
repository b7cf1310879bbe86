// runner.cpp - runs a model package on .npy files:
//   sparq_run PACKAGE_DIR INPUT.npy... [-o OUT_DIR]
//             [--compare REF_DIR [--rtol R] [--atol A]] [--repeat N]
// One .npy per input, in the signature's order (see model.json); writes one
// OUT_DIR/<output name>.npy per output (default: the current folder). With
// --compare, also checks each float32 output against REF_DIR/<name>.npy
// (|got - ref| <= atol + rtol * |ref|, defaults 1e-4 and 1e-3), prints the
// largest difference and exits with 3 on a mismatch. --repeat N runs the
// model N more times and prints the median time of a run and of its work
// on the device alone (cuda: between the input and output copies; arm: the
// pipeline call).
#include "sparq_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char *descr(const std::string &dtype) {
  static const char *const table[][2] = {{"float32", "<f4"}, {"float64", "<f8"},
                                         {"int64", "<i8"},   {"int32", "<i4"},
                                         {"int16", "<i2"},   {"int8", "|i1"},
                                         {"uint8", "|u1"},   {"bool", "|b1"}};
  for (const auto &row : table)
    if (dtype == row[0])
      return row[1];
  return "";
}

/// `dims` as numpy writes a shape: "(2, 3)", "(5,)", "()".
std::string pythonTuple(const std::vector<int64_t> &dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i)
    s += std::to_string(dims[i]) + (dims.size() == 1      ? ","
                                    : i + 1 < dims.size() ? ", "
                                                          : "");
  return s + ")";
}

/// Reads a C-order .npy of `dtype` and exactly `dims`; "" or the error.
std::string readNpy(const std::string &path, const std::string &dtype,
                    const std::vector<int64_t> &dims, std::vector<char> &data) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return "cannot open '" + path + "'";
  char magic[8];
  f.read(magic, 8);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return "'" + path + "' is not a .npy file";
  size_t headerLen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char *>(b), 2);
    headerLen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    f.read(reinterpret_cast<char *>(b), 4);
    headerLen = b[0] | (b[1] << 8) | (b[2] << 16) | (size_t(b[3]) << 24);
  }
  std::string header(headerLen, ' ');
  f.read(&header[0], headerLen);
  std::string shape = pythonTuple(dims);
  if (header.find(std::string("'") + descr(dtype) + "'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos ||
      header.find("'shape': " + shape) == std::string::npos)
    return "'" + path + "' is not a C-order " + dtype + " array of shape " +
           shape;
  f.read(data.data(), data.size());
  if (!f)
    return "'" + path + "' is truncated";
  return "";
}

bool writeNpy(const std::string &path, const std::string &dtype,
              const std::vector<int64_t> &dims, const std::vector<char> &data) {
  std::string shape = pythonTuple(dims);
  std::string header = std::string("{'descr': '") + descr(dtype) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                          static_cast<unsigned char>(header.size() >> 8)};
  f.write(reinterpret_cast<char *>(len), 2);
  f.write(header.data(), header.size());
  f.write(data.data(), data.size());
  return static_cast<bool>(f);
}

size_t bytesOf(const std::string &dtype, const std::vector<int64_t> &dims) {
  size_t n = 1;
  for (int64_t d : dims)
    n *= size_t(d);
  const char *d = descr(dtype);
  return n * size_t(d[2] - '0');
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> files;
  std::string dir, out = ".", compare;
  double rtol = 1e-3, atol = 1e-4;
  int repeat = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc)
      out = argv[++i];
    else if (a == "--compare" && i + 1 < argc)
      compare = argv[++i];
    else if (a == "--rtol" && i + 1 < argc)
      rtol = std::atof(argv[++i]);
    else if (a == "--atol" && i + 1 < argc)
      atol = std::atof(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc)
      repeat = std::atoi(argv[++i]);
    else if (dir.empty())
      dir = a;
    else
      files.push_back(a);
  }
  int nIn = sparq_model_num_inputs(), nOut = sparq_model_num_outputs();
  if (dir.empty() || int(files.size()) != nIn) {
    std::fprintf(stderr,
                 "usage: %s PACKAGE_DIR INPUT.npy... [-o OUT_DIR] "
                 "[--compare REF_DIR [--rtol R] [--atol A]] "
                 "(%d inputs)\n",
                 argv[0], nIn);
    return 2;
  }
  std::vector<std::vector<char>> ins(nIn), outs(nOut);
  std::vector<const void *> inPtrs;
  std::vector<void *> outPtrs;
  int64_t dims[8];
  for (int i = 0; i < nIn; ++i) {
    int rank = sparq_model_input_shape(i, dims);
    std::vector<int64_t> shape(dims, dims + rank);
    std::string dtype = sparq_model_input_dtype(i);
    ins[i].resize(bytesOf(dtype, shape));
    std::string err = readNpy(files[i], dtype, shape, ins[i]);
    if (!err.empty()) {
      std::fprintf(stderr, "error: input '%s': %s\n", sparq_model_input_name(i),
                   err.c_str());
      return 1;
    }
    inPtrs.push_back(ins[i].data());
  }
  for (int i = 0; i < nOut; ++i) {
    int rank = sparq_model_output_shape(i, dims);
    outs[i].resize(bytesOf(sparq_model_output_dtype(i),
                           std::vector<int64_t>(dims, dims + rank)));
    outPtrs.push_back(outs[i].data());
  }
  char error[1024];
  sparq_model *m = sparq_model_load(dir.c_str(), error, sizeof error);
  if (!m) {
    std::fprintf(stderr, "error: %s\n", error);
    return 1;
  }
  std::vector<double> ms, device;
  for (int k = 0; k <= repeat; ++k) {
    auto start = std::chrono::steady_clock::now();
    if (sparq_model_run(m, inPtrs.data(), outPtrs.data()) != 0) {
      std::fprintf(stderr, "error: %s\n", sparq_model_error(m));
      sparq_model_free(m);
      return 1;
    }
    std::chrono::duration<double, std::milli> d =
        std::chrono::steady_clock::now() - start;
    if (k > 0) { // the first run warms up
      ms.push_back(d.count());
      device.push_back(sparq_model_last_device_ms(m));
    }
  }
  if (!ms.empty()) {
    std::sort(ms.begin(), ms.end());
    std::sort(device.begin(), device.end());
    std::printf("run: %.4f ms, on the device %.4f ms (medians of %zu)\n",
                ms[ms.size() / 2], device[device.size() / 2], ms.size());
  }
  sparq_model_free(m);
  bool mismatch = false;
  for (int i = 0; i < nOut; ++i) {
    int rank = sparq_model_output_shape(i, dims);
    std::string name = sparq_model_output_name(i);
    for (char &c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' &&
          c != '-' && c != '_')
        c = '_';
    if (!writeNpy(out + "/" + name + ".npy", sparq_model_output_dtype(i),
                  std::vector<int64_t>(dims, dims + rank), outs[i])) {
      std::fprintf(stderr, "error: cannot write '%s/%s.npy'\n", out.c_str(),
                   name.c_str());
      return 1;
    }
    if (compare.empty() ||
        std::string(sparq_model_output_dtype(i)) != "float32")
      continue;
    std::vector<int64_t> shape(dims, dims + rank);
    std::vector<char> ref(outs[i].size());
    std::string err =
        readNpy(compare + "/" + name + ".npy", "float32", shape, ref);
    if (!err.empty()) {
      std::fprintf(stderr, "error: reference of '%s': %s\n", name.c_str(),
                   err.c_str());
      return 1;
    }
    const float *g = reinterpret_cast<const float *>(outs[i].data()),
                *r = reinterpret_cast<const float *>(ref.data());
    double worst = 0;
    size_t bad = 0, n = ref.size() / 4;
    for (size_t k = 0; k < n; ++k) {
      double d = std::fabs(double(g[k]) - r[k]);
      worst = d > worst ? d : worst;
      bad += !(d <= atol + rtol * std::fabs(double(r[k])));
    }
    std::printf("output %s: max abs diff %.3g, %zu of %zu outside rtol %g atol "
                "%g: %s\n",
                name.c_str(), worst, bad, n, rtol, atol,
                bad ? "MISMATCH" : "OK");
    mismatch |= bad != 0;
  }
  return mismatch ? 3 : 0;
}
