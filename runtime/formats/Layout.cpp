//===- Layout.cpp - checks and names for storage layouts ------------------===//

#include "runtime/formats/Layout.h"

#include <sstream>

using namespace sparq::formats;

unsigned Layout::valueBits() const {
  switch (quant) {
  case Quant::None:
    return 32;
  case Quant::Ternary:
    return 2;
  case Quant::Int:
  case Quant::Codebook:
    return bits;
  case Quant::Fixed:
    return 1 + intBits + fracBits;
  }
  return 32;
}

bool sparq::formats::tableGemv(const Layout &l, int64_t cols) {
  if (l.isSparse())
    return false;
  bool wholeWords = l.group == 0 || l.group == cols || l.group % 8 == 0;
  return l.quant == Quant::Ternary ||
         (l.quant == Quant::Int && l.bits == 4 && wholeWords) ||
         (l.quant == Quant::Codebook && l.bits == 4);
}

std::string sparq::formats::checkLayout(const Layout &l, int64_t rows,
                                        int64_t cols) {
  std::ostringstream os;
  if (rows <= 0 || cols <= 0) {
    os << "empty matrix " << rows << "x" << cols;
    return os.str();
  }
  switch (l.format) {
  case Format::BCSR:
    if (l.blockRows <= 0 || l.blockCols <= 0 || rows % l.blockRows ||
        cols % l.blockCols)
      os << "BCSR blocks " << l.blockRows << "x" << l.blockCols
         << " do not tile a " << rows << "x" << cols << " matrix";
    break;
  case Format::NM:
    if (l.m < 2 || l.m > 256 || l.n <= 0 || l.n >= l.m || cols % l.m)
      os << "N:M " << l.n << ":" << l.m << " needs 0 < N < M <= 256 and M to"
         << " divide the " << cols << " columns";
    break;
  case Format::InterleavedCSC:
    if (l.pes == 0 || l.indexBits < 1 || l.indexBits > 16)
      os << "interleaved CSC needs pes >= 1 and 1..16 index bits, got pes = "
         << l.pes << ", index_bits = " << l.indexBits;
    break;
  default:
    break;
  }
  switch (l.quant) {
  case Quant::Int:
    if (l.bits < 2 || l.bits > 8)
      os << "int quantization needs 2..8 bits, got " << l.bits;
    else if (l.group < 0 || (l.group > 0 && cols % l.group))
      os << "int group " << l.group << " does not divide the " << cols
         << " columns";
    else if (l.isSparse())
      os << "int groups are stored dense; use a codebook for sparse values";
    break;
  case Quant::Codebook:
    if (l.bits < 1 || l.bits > 8)
      os << "a codebook needs 1..8 bits, got " << l.bits;
    break;
  case Quant::Fixed:
    if (l.valueBits() > 24)
      os << "fixed point Q" << l.intBits << "." << l.fracBits
         << " is wider than 24 bits";
    break;
  case Quant::Ternary:
    if (l.perChannel && l.isSparse())
      os << "per-channel ternary scales are stored dense only";
    break;
  case Quant::None:
    break;
  }
  if (!os.str().empty() || l.actBits == 0)
    return os.str();
  if (l.actBits != 8)
    os << "activations are f32 (0) or int8 (8), got " << l.actBits << " bits";
  else if (!tableGemv(l, cols))
    os << "int8 activations need dense ternary, int4 (groups a multiple of 8)"
       << " or 4-bit codebook weights";
  return os.str();
}

std::string sparq::formats::describe(const Layout &l) {
  std::ostringstream os;
  switch (l.format) {
  case Format::Dense:
    os << "dense";
    break;
  case Format::CSR:
    os << "csr";
    break;
  case Format::CSC:
    os << "csc";
    break;
  case Format::BCSR:
    os << "bcsr" << l.blockRows << "x" << l.blockCols;
    break;
  case Format::NM:
    os << "nm" << l.n << ":" << l.m;
    break;
  case Format::InterleavedCSC:
    os << "icsc" << l.pes << "/" << l.indexBits << "b";
    break;
  }
  switch (l.quant) {
  case Quant::None:
    break;
  case Quant::Ternary:
    os << "+ternary" << (l.perChannel ? "/ch" : "");
    break;
  case Quant::Int:
    os << "+int" << l.bits;
    if (l.group)
      os << "g" << l.group;
    if (!l.zeroPoints)
      os << "s";
    break;
  case Quant::Codebook:
    os << "+cb" << l.bits;
    break;
  case Quant::Fixed:
    os << "+q" << l.intBits << "." << l.fracBits;
    break;
  }
  if (l.actBits)
    os << "+a" << l.actBits;
  return os.str();
}
