//===- TrainBindings.h - the formats library for training loops -*- C++ -*-===//

#ifndef SPARQ_PYTHON_BINDINGS_TRAINBINDINGS_H
#define SPARQ_PYTHON_BINDINGS_TRAINBINDINGS_H

#include <pybind11/pybind11.h>

namespace sparq {
/// Adds prune_mask, balanced_prune_mask, pe_load, ternary_codes and the
/// dgc_* functions to the extension module.
void bindTraining(pybind11::module_ &m);
} // namespace sparq

#endif // SPARQ_PYTHON_BINDINGS_TRAINBINDINGS_H
