//===- SparqAttrs.cpp - compression encodings: parse, print, verify -------===//

#include "dialects/SparqDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::sparq;

//===----------------------------------------------------------------------===//
// SparsityAttr
//===----------------------------------------------------------------------===//

// Syntax: <pattern = P[, format = F][, pes = N][, index_bits = B]> where P is
// a pattern keyword, `block[R, C]` or `nm[N, M]`.
Attribute SparsityAttr::parse(AsmParser &parser, Type) {
  SparsityPattern pattern = SparsityPattern::Element;
  StorageFormat format = StorageFormat::Dense;
  SmallVector<int64_t> group;
  unsigned pes = 0, indexBits = 0;
  bool sawPattern = false;
  if (parser.parseLess())
    return {};
  auto parseEntry = [&]() -> ParseResult {
    StringRef key;
    SMLoc loc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return failure();
    if (key == "pattern") {
      StringRef name;
      if (parser.parseKeyword(&name))
        return failure();
      std::optional<SparsityPattern> p = symbolizeSparsityPattern(name);
      if (!p)
        return parser.emitError(loc, "unknown sparsity pattern '") << name
               << "'";
      pattern = *p;
      sawPattern = true;
      if (succeeded(parser.parseOptionalLSquare())) {
        if (parser.parseCommaSeparatedList([&]() -> ParseResult {
              int64_t v;
              if (parser.parseInteger(v))
                return failure();
              group.push_back(v);
              return success();
            }) ||
            parser.parseRSquare())
          return failure();
      }
      return success();
    }
    if (key == "format") {
      StringRef name;
      if (parser.parseKeyword(&name))
        return failure();
      std::optional<StorageFormat> f = symbolizeStorageFormat(name);
      if (!f)
        return parser.emitError(loc, "unknown storage format '") << name
               << "'";
      format = *f;
      return success();
    }
    if (key == "pes")
      return parser.parseInteger(pes);
    if (key == "index_bits")
      return parser.parseInteger(indexBits);
    return parser.emitError(loc, "unknown sparsity parameter '") << key << "'";
  };
  if (parser.parseCommaSeparatedList(parseEntry) || parser.parseGreater())
    return {};
  if (!sawPattern) {
    parser.emitError(parser.getNameLoc(), "sparsity needs a 'pattern'");
    return {};
  }
  return parser.getChecked<SparsityAttr>(parser.getContext(), pattern,
                                         ArrayRef<int64_t>(group),
                                         format, pes, indexBits);
}

void SparsityAttr::print(AsmPrinter &printer) const {
  printer << "<pattern = " << stringifySparsityPattern(getPattern());
  if (!getGroup().empty()) {
    printer << "[";
    llvm::interleaveComma(getGroup(), printer);
    printer << "]";
  }
  printer << ", format = " << stringifyStorageFormat(getFormat());
  if (getPes())
    printer << ", pes = " << getPes();
  if (getIndexBits())
    printer << ", index_bits = " << getIndexBits();
  printer << ">";
}

LogicalResult
SparsityAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                     SparsityPattern pattern, ArrayRef<int64_t> group,
                     StorageFormat format, unsigned pes, unsigned indexBits) {
  bool needsGroup =
      pattern == SparsityPattern::Block || pattern == SparsityPattern::NM;
  if (needsGroup && group.size() != 2)
    return emitError() << "pattern '" << stringifySparsityPattern(pattern)
                       << "' expects 2 sizes, got " << group.size();
  if (!needsGroup && !group.empty())
    return emitError() << "pattern '" << stringifySparsityPattern(pattern)
                       << "' takes no sizes";
  for (int64_t v : group)
    if (v <= 0)
      return emitError() << "expects positive group sizes, got " << v;
  if (pattern == SparsityPattern::NM && group[0] >= group[1])
    return emitError() << "N:M sparsity expects N < M, got " << group[0] << ":"
                       << group[1];
  // BCSR blocks are the pruning groups: explicit blocks, or the rows of the
  // 2-D view a vector, kernel or filter occupies.
  if (format == StorageFormat::BCSR && pattern != SparsityPattern::Block &&
      pattern != SparsityPattern::Vector &&
      pattern != SparsityPattern::Kernel && pattern != SparsityPattern::Filter)
    return emitError() << "format 'bcsr' expects a block, vector, kernel or "
                          "filter pattern";
  if (format == StorageFormat::NM && pattern != SparsityPattern::NM)
    return emitError() << "format 'nm' expects an N:M pattern";
  if (format == StorageFormat::InterleavedCSC) {
    if (pes == 0)
      return emitError() << "format 'interleaved_csc' expects pes >= 1";
    if (indexBits == 0 || indexBits > 16)
      return emitError()
             << "format 'interleaved_csc' expects 1 <= index_bits <= 16, got "
             << indexBits;
  } else if (pes != 0) {
    return emitError() << "'pes' is only meaningful for interleaved_csc";
  }
  if (indexBits > 32)
    return emitError() << "expects index_bits <= 32, got " << indexBits;
  return success();
}

//===----------------------------------------------------------------------===//
// QuantAttr
//===----------------------------------------------------------------------===//

// Syntax: <kind[, key = value | flag]...>, see SparqAttrs.td.
Attribute QuantAttr::parse(AsmParser &parser, Type) {
  StringRef kindName;
  SMLoc kindLoc = parser.getCurrentLocation();
  if (parser.parseLess() || parser.parseKeyword(&kindName))
    return {};
  std::optional<QuantKind> kind = symbolizeQuantKind(kindName);
  if (!kind) {
    parser.emitError(kindLoc, "unknown quantization kind '") << kindName << "'";
    return {};
  }
  unsigned bits = *kind == QuantKind::Ternary ? 2 : 0;
  int64_t groupSize = 0;
  bool zeroPoints = false, perChannel = false;
  APFloat wp(0.0), wn(0.0);
  unsigned intBits = 0, fracBits = 0;
  auto parseFloat = [&](APFloat &out) -> ParseResult {
    double v;
    if (parser.parseFloat(v))
      return failure();
    out = APFloat(v);
    return success();
  };
  while (succeeded(parser.parseOptionalComma())) {
    StringRef key;
    SMLoc loc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key))
      return {};
    if (key == "zero_points") {
      zeroPoints = true;
      continue;
    }
    if (key == "per_channel") {
      perChannel = true;
      continue;
    }
    if (parser.parseEqual())
      return {};
    ParseResult r = success();
    if (key == "bits")
      r = parser.parseInteger(bits);
    else if (key == "group")
      r = parser.parseInteger(groupSize);
    else if (key == "wp")
      r = parseFloat(wp);
    else if (key == "wn")
      r = parseFloat(wn);
    else if (key == "int_bits")
      r = parser.parseInteger(intBits);
    else if (key == "frac_bits")
      r = parser.parseInteger(fracBits);
    else
      r = parser.emitError(loc, "unknown quantization parameter '") << key
          << "'";
    if (failed(r))
      return {};
  }
  if (parser.parseGreater())
    return {};
  if (*kind == QuantKind::Fixed)
    bits = 1 + intBits + fracBits;
  return parser.getChecked<QuantAttr>(parser.getContext(), *kind, bits,
                                      groupSize, zeroPoints, perChannel, wp, wn,
                                      intBits, fracBits);
}

void QuantAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyQuantKind(getKind());
  switch (getKind()) {
  case QuantKind::Ternary:
    if (getPerChannel())
      printer << ", per_channel";
    else
      printer << ", wp = " << getWp() << ", wn = " << getWn();
    break;
  case QuantKind::Int:
    printer << ", bits = " << getBits();
    if (getGroupSize())
      printer << ", group = " << getGroupSize();
    if (getZeroPoints())
      printer << ", zero_points";
    break;
  case QuantKind::Codebook:
    printer << ", bits = " << getBits();
    break;
  case QuantKind::Fixed:
    printer << ", int_bits = " << getIntBits()
            << ", frac_bits = " << getFracBits();
    break;
  }
  printer << ">";
}

LogicalResult QuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                QuantKind kind, unsigned bits,
                                int64_t groupSize, bool zeroPoints,
                                bool perChannel, APFloat wp, APFloat wn,
                                unsigned intBits, unsigned fracBits) {
  switch (kind) {
  case QuantKind::Ternary:
    if (bits != 2)
      return emitError() << "ternary weights are stored at 2 bits, got "
                         << bits;
    if (!perChannel && (!wp.isFiniteNonZero() || wp.isNegative() ||
                        !wn.isFiniteNonZero() || wn.isNegative()))
      return emitError() << "ternary expects positive finite 'wp' and 'wn' "
                            "(or 'per_channel')";
    break;
  case QuantKind::Int:
    if (bits < 2 || bits > 8)
      return emitError() << "int quantization expects 2 <= bits <= 8, got "
                         << bits;
    if (groupSize < 0)
      return emitError() << "expects group >= 0, got " << groupSize;
    break;
  case QuantKind::Codebook:
    if (bits < 1 || bits > 8)
      return emitError() << "codebook expects 1 <= bits <= 8, got " << bits;
    break;
  case QuantKind::Fixed:
    if (bits < 2 || bits > 32)
      return emitError() << "fixed point expects 2 <= 1 + int_bits + "
                            "frac_bits <= 32, got "
                         << bits;
    break;
  }
  if (kind != QuantKind::Int && (groupSize != 0 || zeroPoints))
    return emitError() << "'group' and 'zero_points' apply to int only";
  if (kind != QuantKind::Ternary && !(wp.isZero() && wn.isZero()))
    return emitError() << "'wp' and 'wn' apply to ternary only";
  return success();
}

unsigned QuantAttr::getValueBits() const { return getBits(); }

//===----------------------------------------------------------------------===//
// EncodingAttr
//===----------------------------------------------------------------------===//

LogicalResult EncodingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   SparsityAttr sparsity, QuantAttr quant,
                                   unsigned actBits) {
  if (!sparsity && !quant)
    return emitError() << "encoding expects a sparsity or a quant part";
  if (actBits == 0)
    return success();
  if (actBits != 8)
    return emitError() << "act_bits expects 0 (f32) or 8 (int8), got "
                       << actBits;
  if (!supportsInt8Activations(sparsity, quant))
    return emitError() << "act_bits = 8 expects a dense ternary, int4 "
                          "(groups a multiple of 8) or 4-bit codebook weight";
  return success();
}

// The int8-activation GEMVs run on tiled ternary or 4-bit codes: the
// shape-free form of formats::tableGemv (packing checks it with the shape).
bool EncodingAttr::supportsInt8Activations(SparsityAttr sparsity,
                                           QuantAttr quant) {
  if (!quant || (sparsity && sparsity.getFormat() != StorageFormat::Dense))
    return false;
  switch (quant.getKind()) {
  case QuantKind::Ternary:
    return true;
  case QuantKind::Int:
    return quant.getBits() == 4 && quant.getGroupSize() % 8 == 0;
  case QuantKind::Codebook:
    return quant.getBits() == 4;
  default:
    return false;
  }
}

// Checks that the encoding fits the weight it is attached to.
LogicalResult EncodingAttr::verifyEncoding(
    ArrayRef<int64_t> shape, Type elementType,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (!elementType.isF32() && !elementType.isF16() && !elementType.isBF16())
    return emitError() << "compressed weights must be float, got "
                       << elementType;
  if (llvm::any_of(shape, ShapedType::isDynamic))
    return emitError() << "compressed weights must have a static shape";
  int64_t rank = shape.size();
  int64_t cols = weightMatrixShape(shape).second;
  if (SparsityAttr s = getSparsity()) {
    SparsityPattern p = s.getPattern();
    bool convOnly = p == SparsityPattern::Vector ||
                    p == SparsityPattern::Kernel ||
                    p == SparsityPattern::Filter ||
                    p == SparsityPattern::Channel;
    if (convOnly && rank != 4)
      return emitError() << "pattern '" << stringifySparsityPattern(p)
                         << "' expects a 4-D conv weight [K, C, R, S], got "
                            "rank "
                         << rank;
    if (p != SparsityPattern::Element && !convOnly && rank < 2)
      return emitError() << "pattern '" << stringifySparsityPattern(p)
                         << "' expects a weight of rank >= 2";
    if (p == SparsityPattern::NM && cols % s.getGroup()[1] != 0)
      return emitError() << "N:M sparsity expects the input dimension ("
                         << cols << ") to be a multiple of M ("
                         << s.getGroup()[1] << ")";
    if (s.getFormat() == StorageFormat::InterleavedCSC && rank != 2 &&
        rank != 3)
      return emitError() << "interleaved_csc expects a matrix (or a "
                            "recurrent layer's stacked directions), got rank "
                         << rank;
  }
  if (QuantAttr q = getQuant()) {
    if (q.getKind() == QuantKind::Int && q.getGroupSize() > 0 &&
        cols % q.getGroupSize() != 0)
      return emitError() << "int groups of " << q.getGroupSize()
                         << " expect the input dimension (" << cols
                         << ") to be a multiple of the group size";
  }
  return success();
}
