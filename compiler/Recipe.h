//===- Recipe.h - compression recipes as pass pipelines ---------*- C++ -*-===//
//
// What `sparqc --prune kernel:0.7 --ternary ...` and the Python package ask
// for, turned into the long form: a pipeline of sparq compression passes.
//
//===----------------------------------------------------------------------===//

#ifndef SPARQ_COMPILER_RECIPE_H
#define SPARQ_COMPILER_RECIPE_H

#include <string>

namespace sparq {

struct CompressionRecipe {
  /// sparq-detect-compression: encode what training already compressed.
  bool detect = true;
  /// sparq-prune: granularity ("" for none) and ratio.
  std::string prune;
  double pruneRatio = 0.0;
  /// sparq-ternarize.
  bool ternary = false;
  double ternaryThreshold = 0.05;
  /// sparq-quantize: bits of MatMul/Gemm weights (0: none), group size.
  unsigned intBits = 0;
  long long intGroup = 128;
  /// sparq-weight-share: codebook bits (0: none).
  unsigned codebookBits = 0;
  /// sparq-quantize-activations: bits of the packed GEMVs' activations
  /// (0: f32).
  unsigned actBits = 0;
  /// sparq-pe-balance: PEs (0: none) and pruning ratio.
  unsigned pes = 0;
  double peRatio = 0.9;
  /// sparq-fuse-bev-pool: fuse domain patterns (BEV pooling) into sparq ops.
  bool fuse = true;
  /// Layer-name patterns the recipe applies to ("" for all).
  std::string layers;

  bool compresses() const {
    return !prune.empty() || ternary || intBits || codebookBits || pes;
  }
};

/// Parses a `--prune` value: "GRANULARITY:RATIO" (kernel:0.7, block4x4:0.5)
/// or "N:M" (2:4). Returns "" or what is wrong.
std::string parsePruneFlag(const std::string &value, CompressionRecipe &r);

/// Applies one recipe word, as `sparqc --NAME [VALUE]` and the Python
/// package's recipes spell it: prune=G:R or N:M, ternary[=T], int4, int8,
/// group=G, codebook=B, int8-activations, pe-balance=P[:R], layers=PATTERNS,
/// no-detect, no-fuse. `value` is null for a bare word. Returns "" or what is
/// wrong, in words that follow the word's name ("expects ...").
std::string applyRecipeWord(const std::string &name, const std::string *value,
                            CompressionRecipe &r);

/// Parses a recipe string: words separated by commas
/// ("prune=kernel:0.7,ternary"). `layers=` takes the rest of the string, its
/// patterns separated by commas as everywhere else. Returns "" or what is
/// wrong, naming the word.
std::string parseRecipe(const std::string &text, CompressionRecipe &r);

/// The recipe as a comma-separated pass list ("" when it does nothing):
/// the domain fusions, detect, pe-balance, prune, ternarize / quantize /
/// weight-share, then select-layout and quantize-activations; when it
/// compresses, recurrent layers are lowered to matmuls first so that their
/// weights are compressed too.
std::string recipePipeline(const CompressionRecipe &r);

} // namespace sparq

#endif // SPARQ_COMPILER_RECIPE_H
