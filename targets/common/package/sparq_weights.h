// sparq_weights.h - reads a package's model.weights (the layout of
// runtime/io/WeightsFile.h: a 64-byte header, "SPARQWT1", version 1, the
// data's size and digest, then the data) and checks it is the file the
// model was compiled with.
#ifndef SPARQ_WEIGHTS_H
#define SPARQ_WEIGHTS_H

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace sparq_pkg {

/// DIR/model.weights' data into `data`; false with `error` set.
inline bool readWeights(const std::string &dir, uint64_t bytes, uint64_t digest,
                        std::vector<char> &data, std::string &error) {
  std::string path = dir + "/model.weights";
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "cannot open '" + path + "'";
    return false;
  }
  unsigned char header[64];
  bool ok = std::fread(header, 1, 64, f) == 64;
  uint64_t version = 0, size = 0, sum = 0;
  if (ok) {
    std::memcpy(&version, header + 8, 8);
    std::memcpy(&size, header + 16, 8);
    std::memcpy(&sum, header + 24, 8);
  }
  if (!ok || std::memcmp(header, "SPARQWT1", 8) != 0 || version != 1)
    error = "'" + path + "' is not a sparq weights file";
  else if (size != bytes || sum != digest)
    error =
        "'" + path + "' holds other weights than this model was compiled with";
  else if (data.resize(bytes), std::fread(data.data(), 1, bytes, f) != bytes)
    error = "'" + path + "' is truncated";
  std::fclose(f);
  return error.empty();
}

} // namespace sparq_pkg

#endif // SPARQ_WEIGHTS_H
