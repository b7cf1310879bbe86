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

namespace {
/// A whole-string decimal count in [lo, hi], or -1.
long long parseCount(const std::string &text, long long lo, long long hi) {
  if (text.empty() || text.size() > 12 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  long long v = std::stoll(text);
  return v >= lo && v <= hi ? v : -1;
}

/// A whole-string real in [0, 1), or -1.
double parseFraction(const std::string &text) {
  char *end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  return !text.empty() && !*end && v >= 0 && v < 1 ? v : -1;
}
} // namespace

std::string sparq::applyRecipeWord(const std::string &name,
                                   const std::string *value,
                                   CompressionRecipe &r) {
  auto bare = [&](auto apply) -> std::string {
    if (value)
      return "takes no value, got '" + *value + "'";
    apply();
    return "";
  };
  if (name == "ternary") {
    r.ternary = true;
    if (!value)
      return "";
    double t = parseFraction(*value);
    if (t < 0)
      return "expects a threshold in [0, 1), got '" + *value + "'";
    r.ternaryThreshold = t;
    return "";
  }
  if (name == "int4" || name == "int8")
    return bare([&] { r.intBits = name == "int4" ? 4 : 8; });
  if (name == "int8-activations")
    return bare([&] { r.actBits = 8; });
  if (name == "no-detect")
    return bare([&] { r.detect = false; });
  if (name == "no-fuse")
    return bare([&] { r.fuse = false; });
  static const std::pair<const char *, const char *> kValued[] = {
      {"prune", "GRANULARITY:RATIO or N:M"},
      {"group", "a group size"},
      {"codebook", "1..8 bits"},
      {"pe-balance", "PES[:RATIO]"},
      {"layers", "layer-name patterns"}};
  const char *form = nullptr;
  for (const auto &[word, what] : kValued)
    if (name == word)
      form = what;
  if (!form)
    return "is not a recipe word (prune, ternary, int4, int8, group, "
           "codebook, int8-activations, pe-balance, layers, no-detect, "
           "no-fuse)";
  if (!value)
    return std::string("expects ") + form;
  const std::string &v = *value;
  if (name == "prune") {
    std::string e = parsePruneFlag(v, r);
    // parsePruneFlag's message starts with the flag's own name.
    return e.empty() ? e : e.substr(e.find(' ') + 1);
  }
  if (name == "group") {
    long long g = parseCount(v, 1, 999999999);
    if (g < 0)
      return "expects a group size, got '" + v + "'";
    r.intGroup = g;
    return "";
  }
  if (name == "codebook") {
    long long b = parseCount(v, 1, 8);
    if (b < 0)
      return "expects 1..8 bits, got '" + v + "'";
    r.codebookBits = unsigned(b);
    return "";
  }
  if (name == "layers") {
    if (v.empty())
      return "expects layer-name patterns";
    if (v.find_first_of(" {}") != std::string::npos)
      return "patterns cannot hold spaces or braces";
    r.layers = v;
    return "";
  }
  // pe-balance=P[:R]
  size_t colon = v.find(':');
  long long pes = parseCount(v.substr(0, colon), 1, 99999);
  if (pes < 0)
    return "expects PES[:RATIO] (e.g. 32 or 32:0.9), got '" + v + "'";
  r.pes = unsigned(pes);
  if (colon != std::string::npos) {
    double ratio = parseFraction(v.substr(colon + 1));
    if (ratio < 0)
      return "expects a ratio in [0, 1) after ':', got '" +
             v.substr(colon + 1) + "'";
    r.peRatio = ratio;
  }
  return "";
}

std::string sparq::parseRecipe(const std::string &text, CompressionRecipe &r) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end =
        text.rfind("layers=", pos) == pos ? text.size() : text.find(',', pos);
    if (end == std::string::npos)
      end = text.size();
    std::string word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty())
      continue;
    size_t eq = word.find('=');
    std::string name = word.substr(0, eq);
    std::string value =
        eq == std::string::npos ? std::string() : word.substr(eq + 1);
    std::string e =
        applyRecipeWord(name, eq == std::string::npos ? nullptr : &value, r);
    if (!e.empty())
      return "recipe word '" + name + "' " + e;
  }
  return "";
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
  // Domain fusions first: they see the graph as the model exported it.
  std::string fusions =
      r.fuse ? "func.func(sparq-fuse-bev-pool,sparq-fuse-correlation)" : "";
  // --int8-activations alone still runs, to warn of the layers it skips.
  if (p.tellp() == 0 && !r.actBits)
    return fusions;
  add("sparq-select-layout");
  if (r.actBits)
    add("sparq-quantize-activations{bits=" + std::to_string(r.actBits) +
        layers + "}");
  // Recurrent layers stay whole: the passes see their stacked weights, and
  // each target runs them its way (the host lowers them, keeping the
  // encodings; the hls target's engine runs the LSTM itself).
  std::string lead = fusions.empty() ? "" : fusions + ",";
  return lead + p.str();
}
