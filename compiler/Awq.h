//===- Awq.h - activation-aware weight quantization --------------*- C++
//-*-===//
//
// AWQ (Lin et al., MLSys 2024): before weights are rounded to int4 groups,
// scale each input channel of a MatMul weight by s = mean|x|^alpha of the
// activations that multiply it, and divide the activations by s. Salient
// channels (large activations) then keep more precision, and the product
// is unchanged before rounding. alpha is searched on a grid per layer group
// (the MatMuls sharing one input) to minimize the output error on
// calibration data.
//
//===----------------------------------------------------------------------===//
#ifndef SPARQ_COMPILER_AWQ_H
#define SPARQ_COMPILER_AWQ_H

#include <string>

namespace sparq {

class Compiler;
struct CompileOptions;

/// Applies AWQ scaling to `target`'s MatMul weights that the int recipe of
/// `options` quantizes (its bits, group and layer patterns), with the
/// activations of `modelPath` run on the inputs in `options.awqCalibration`
/// (an .npz of the model's inputs). Writes the scaled weights and the
/// inverse scales of the activations into the graph IR; the recipe's int
/// quantization runs after. False with `error` on failure.
bool applyAwq(Compiler &target, const std::string &modelPath,
              const CompileOptions &options, std::string &error);

} // namespace sparq

#endif // SPARQ_COMPILER_AWQ_H
