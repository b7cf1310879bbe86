//===- Recipe.cpp - compression recipes as pass pipelines -----------------===//

#include "compiler/Recipe.h"
#include "runtime/formats/Pruning.h"

#include <cstdlib>
#include <sstream>

using namespace sparq;

std::string sparq::parsePruneFlag(const std::string &value,
                                  CompressionRecipe &r) {
  formats::PruneSpec spec;
  size_t colon = value.rfind(':');
  if (colon != std::string::npos &&
      formats::parseGranularity(value.substr(0, colon), spec) &&
      spec.granularity != formats::Granularity::NM) {
    std::string ratio = value.substr(colon + 1);
    char *end = nullptr;
    double v = std::strtod(ratio.c_str(), &end);
    if (ratio.empty() || *end || !(v >= 0 && v <= 1))
      return "'--prune' expects a ratio in [0, 1] after ':', got '" + ratio +
             "'";
    r.prune = value.substr(0, colon);
    r.pruneRatio = v;
    return "";
  }
  if (formats::parseGranularity(value, spec) &&
      spec.granularity == formats::Granularity::NM) {
    r.prune = value;
    return "";
  }
  return "'--prune' expects GRANULARITY:RATIO (element, vector, kernel, "
         "filter, channel or blockRxC, e.g. kernel:0.7) or N:M (e.g. 2:4), "
         "got '" +
         value + "'";
}

std::string sparq::recipePipeline(const CompressionRecipe &r) {
  std::ostringstream p;
  std::string layers;
  if (!r.layers.empty())
    layers = " layers=" + r.layers;
  auto add = [&](const std::string &pass) {
    if (p.tellp() > 0)
      p << ",";
    p << pass;
  };
  if (r.detect)
    add("sparq-detect-compression");
  if (r.pes)
    add("sparq-pe-balance{pes=" + std::to_string(r.pes) +
        " ratio=" + std::to_string(r.peRatio) + layers + "}");
  if (!r.prune.empty())
    add("sparq-prune{granularity=" + r.prune +
        " ratio=" + std::to_string(r.pruneRatio) + layers + "}");
  if (r.ternary)
    add("sparq-ternarize{threshold=" + std::to_string(r.ternaryThreshold) +
        layers + "}");
  if (r.intBits)
    add("sparq-quantize{bits=" + std::to_string(r.intBits) +
        " group=" + std::to_string(r.intGroup) + layers + "}");
  if (r.codebookBits)
    add("sparq-weight-share{bits=" + std::to_string(r.codebookBits) + layers +
        "}");
  // --int8-activations alone still runs, to warn of the layers it skips.
  if (p.tellp() == 0 && !r.actBits)
    return "";
  add("sparq-select-layout");
  if (r.actBits)
    add("sparq-quantize-activations{bits=" + std::to_string(r.actBits) +
        layers + "}");
  // Compressing: recurrent layers first become matmuls on 2-D weight
  // constants, which the passes above then see. (Detection alone leaves
  // them to the target.)
  if (r.compresses())
    return "func.func(sparq-lower-rnn)," + p.str();
  return p.str();
}
