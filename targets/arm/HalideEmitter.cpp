//===- HalideEmitter.cpp - graph IR to a Halide pipeline ------------------===//

#include "targets/arm/HalideEmitter.h"
#include "targets/common/ScalarExpr.h"

#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "passes/Weights.h"
#include "runtime/formats/Packed.h"
#include "runtime/io/WeightsFile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/TypeSwitch.h"

#include <numeric>

using namespace mlir;
using namespace ::sparq::emit;

namespace {

/// How a Func is computed.
enum class Kind {
  Param,     // an ImageParam: an input or a weight
  Pointwise, // one read of each operand per point: inlined where it can be
  Root,      // computed at root (reductions, pads, gathers, outputs)
  Acc,       // a convolution's or matrix product's sum: inside a tile
  Decoded,   // a compressed convolution weight decoded: per channel tile
};

struct Node {
  std::string name, node, what;
  Kind kind;
  SmallVector<int64_t> shape;
  /// Each read of this Func: the reader, and whether it reads point (i...)
  /// at (i...) with the same shape (so it can be fused into the reader's
  /// tile) and is a pointwise Func (so this one can be inlined into it).
  struct Use {
    int user;
    bool identity, pointwise;
  };
  SmallVector<Use> uses;
  /// Reads one element of one operand per point (a reshape, transpose or
  /// slice): inlined into its one reader whatever that reader is.
  bool view = false;
  bool inlined = false;
  /// Acc: its RDom, its wrapper, and the channel axis unrolled in a tile
  /// (MLIR dimension; -1: none).
  std::string rdom;
  int wrapper = -1, channelDim = -1;
  /// The Acc nodes computed inside this one's tiles.
  SmallVector<int> tiles;
  /// Acc: the Decoded weight it reads, or -1.
  int decoded = -1;
  /// An input's ImageParam: the Func that reads it clamped, or -1.
  bool input = false;
  int staged = -1;
  std::string schedule;
};

std::string vars(int64_t rank) {
  std::string s;
  for (int64_t d = rank - 1; d >= 0; --d)
    s += "v" + std::to_string(d) + (d ? ", " : "");
  return s;
}

/// Innermost-first extents, as the generator's helpers take them.
std::string extents(ArrayRef<int64_t> shape) {
  std::string s = "{";
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d)
    s += std::to_string(shape[d]) + (d ? ", " : "");
  return s + "}";
}

struct Emitter {
  ::sparq::io::WeightsBlob &weights;
  std::vector<::sparq::arm::PipelineArgument> &arguments;
  std::string error, defs;
  std::vector<Node> nodes;
  DenseMap<Value, int> ids;
  int exprCount = 0;
  MLIRContext *ctx = nullptr;
  bool dotProducts = false; // int8 dot products: arm_dot_prod's sdot

  Emitter(::sparq::io::WeightsBlob &w,
          std::vector<::sparq::arm::PipelineArgument> &a)
      : weights(w), arguments(a) {}

  bool fail(Operation *op, const std::string &what) {
    std::string node = nodeOf(op);
    error = (node.empty() ? "" : "node '" + node + "': ") + what;
    return false;
  }

  int newNode(Kind kind, ArrayRef<int64_t> shape, Operation *op,
              const std::string &what, const char *prefix = "f") {
    Node n;
    n.kind = kind;
    n.shape.assign(shape.begin(), shape.end());
    n.name = prefix + std::to_string(nodes.size());
    n.node = op ? nodeOf(op) : "";
    n.what = what;
    nodes.push_back(n);
    if (kind != Kind::Param)
      defs += "  Func " + n.name + "(\"" + n.name + "\");";
    if (kind == Kind::Param || !n.node.empty())
      defs += "  // " + what + (n.node.empty() ? "" : " '" + n.node + "'");
    defs += "\n";
    return int(nodes.size()) - 1;
  }

  int func(Value v, Kind kind, Operation *op, const std::string &what) {
    int id =
        newNode(kind, cast<RankedTensorType>(v.getType()).getShape(), op, what);
    ids[v] = id;
    return id;
  }

  /// `v` read at MLIR indices `idx` by node `user`. A stencil or gather
  /// reads an input through a copy computed at root with its indices
  /// clamped: vectorized strided loads read a little past the last point
  /// used, which a Func may compute but an input buffer does not have.
  std::string read(Value v, ArrayRef<std::string> idx, int user, bool identity,
                   bool pointwise, bool clamped = false) {
    if (!ids.count(v)) {
      auto c = lazyWeights.lookup(v);
      if (!c || weightParam(c) < 0)
        return "undefined"; // error set: the emission fails
    }
    int id = ids.lookup(v);
    if (!pointwise && !clamped && nodes[id].input)
      id = staged(id);
    nodes[id].uses.push_back({user, identity, pointwise});
    std::string s = nodes[id].name + "(";
    for (int64_t d = int64_t(idx.size()) - 1; d >= 0; --d)
      s += idx[d] + (d ? ", " : "");
    return s + ")";
  }
  int staged(int param) {
    if (nodes[param].staged >= 0)
      return nodes[param].staged;
    SmallVector<int64_t> shape = nodes[param].shape;
    int id = newNode(Kind::Root, shape, nullptr, "input, clamped");
    std::string s = nodes[param].name + "(";
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d)
      s += "clamp(v" + std::to_string(d) + ", 0, " +
           std::to_string(shape[d] - 1) + ")" + (d ? ", " : "");
    defs += define(id, s + ")");
    nodes[param].uses.push_back({id, false, false});
    return nodes[param].staged = id;
  }

  SmallVector<std::string> identityIndices(int64_t rank) {
    SmallVector<std::string> idx;
    for (int64_t d = 0; d < rank; ++d)
      idx.push_back("v" + std::to_string(d));
    return idx;
  }
  std::string define(int id, const std::string &expr) {
    return "  " + nodes[id].name + "(" + vars(int64_t(nodes[id].shape.size())) +
           ") = " + expr + ";\n";
  }

  /// An ImageParam with `shape` fixed (innermost stride 1).
  int param(Value v, Type elem, ArrayRef<int64_t> shape, Operation *op,
            ::sparq::arm::PipelineArgument::Kind kind, uint64_t index,
            const std::string &label) {
    int id = param(halideType(elem),
                   elem.isF32() || elem.isF64() ? 2
                   : elem.isInteger(1)          ? 1
                                                : 0,
                   elem.isInteger(1) ? 1 : int(elem.getIntOrFloatBitWidth()),
                   shape, op, kind, index, label);
    if (v)
      ids[v] = id;
    return id;
  }
  /// An ImageParam of Halide type `type` (halide_type_code_t `code`, `bits`).
  int param(const std::string &type, int code, int bits,
            ArrayRef<int64_t> shape, Operation *op,
            ::sparq::arm::PipelineArgument::Kind kind, uint64_t index,
            const std::string &label) {
    int id = newNode(Kind::Param, shape, op, label, "p");
    ::sparq::arm::PipelineArgument a;
    a.kind = kind;
    a.index = index;
    a.code = code;
    a.bits = bits;
    a.shape.assign(shape.begin(), shape.end());
    arguments.push_back(a);
    defs += "  ImageParam " + nodes[id].name + "(" + type + ", " +
            std::to_string(shape.size()) + ", \"" + nodes[id].name +
            "\");\n  fix(" + nodes[id].name + ", " + extents(shape) +
            ");\n  args.push_back(" + nodes[id].name + ");\n";
    return id;
  }

  bool typeOk(Operation *op) {
    for (Type t : op->getResultTypes())
      if (auto rt = dyn_cast<RankedTensorType>(t);
          rt &&
          (!rt.hasStaticShape() || halideType(rt.getElementType()).empty() ||
           rt.getElementType().isIndex()))
        return fail(op, "the arm target needs static shapes of f32, f64 or "
                        "integer elements, got '" +
                            std::string(op->getName().getStringRef()) + "'");
    return true;
  }

  bool emitOp(Operation *op) {
    if (!typeOk(op))
      return false;
    return llvm::TypeSwitch<Operation *, bool>(op)
        .Case([&](arith::ConstantOp c) { return emitConstant(c); })
        .Case([&](tensor::EmptyOp e) {
          auto t = e.getType();
          int id = func(e, Kind::Pointwise, e, "empty");
          defs += define(id, "cast(" + halideType(t.getElementType()) + ", 0)");
          return true;
        })
        .Case([&](tensor::ExpandShapeOp r) { return emitReshape(r, true); })
        .Case([&](tensor::CollapseShapeOp r) { return emitReshape(r, false); })
        .Case([&](linalg::FillOp f) { return emitFill(f); })
        .Case([&](linalg::GenericOp g) { return emitGeneric(g); })
        .Case([&](linalg::TransposeOp t) { return emitTranspose(t); })
        .Case([&](tensor::ExtractSliceOp s) { return emitExtractSlice(s); })
        .Case([&](tensor::InsertSliceOp s) { return emitInsertSlice(s); })
        .Case([&](tensor::PadOp p) { return emitPad(p); })
        .Case<linalg::MatmulOp, linalg::MatmulTransposeBOp,
              linalg::BatchMatmulOp>([&](auto m) { return emitMatmul(m); })
        .Case<linalg::Conv2DNchwFchwOp, linalg::DepthwiseConv2DNchwChwOp,
              linalg::Conv2DNgchwGfchwOp>([&](auto c) { return emitConv(c); })
        .Case([&](mlir::sparq::CorrelationOp c) { return emitCorrelation(c); })
        .Default([&](Operation *o) {
          if (o->getNumResults() == 0 || isOpTriviallyDead(o))
            return true;
          return fail(o, "op '" + o->getName().getStringRef().str() +
                             "' is not supported by the arm target yet");
        });
  }

  /// The scalar a fill or pad writes: a constant.
  std::string scalar(Value v) {
    auto c = v.getDefiningOp<arith::ConstantOp>();
    return c ? literal(c.getValue(), c.getType(), Syntax::Halide) : "";
  }

  bool emitConstant(arith::ConstantOp c) {
    auto type = dyn_cast<RankedTensorType>(c.getType());
    if (!type)
      return true; // scalars are literals where they are used
    if (auto enc =
            dyn_cast_or_null<mlir::sparq::EncodingAttr>(type.getEncoding())) {
      ::sparq::formats::Layout l = mlir::sparq::toLayout(enc, type.getShape());
      if (l.format != ::sparq::formats::Format::Dense ||
          l.quant != ::sparq::formats::Quant::None)
        return emitPacked(c, l);
    } else if (type.getEncoding()) {
      return fail(c, "a tensor encoding that is not sparq's");
    }
    Type elem = type.getElementType();
    if (mlir::sparq::isSplatConstant(c.getValue())) {
      auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
      if (!dense)
        return fail(c, "a splat constant that is not dense");
      int id = func(c, Kind::Pointwise, c, "splat");
      defs += define(
          id, literal(dense.getSplatValue<Attribute>(), elem, Syntax::Halide));
      return true;
    }
    // Made an ImageParam when first read: a weight stored otherwise
    // (transposed for a tile) is not in model.weights twice.
    lazyWeights[c.getResult()] = c;
    return true;
  }

  DenseMap<Value, arith::ConstantOp> lazyWeights;

  /// The ImageParam of the dense constant `c`, its bytes appended to the
  /// weights; -1 with `error` set.
  int weightParam(arith::ConstantOp c) {
    auto type = cast<RankedTensorType>(c.getType());
    Type elem = type.getElementType();
    uint64_t offset;
    if (elem.isInteger(1)) {
      auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
      if (!dense)
        return fail(c, "a bool constant that is not dense"), -1;
      std::vector<uint8_t> v;
      for (bool b : dense.getValues<bool>())
        v.push_back(b);
      offset = weights.append(v.data(), v.size());
    } else {
      std::optional<ArrayRef<char>> data =
          mlir::sparq::constantBytes(c.getValue());
      if (!data)
        return fail(c, "a constant whose bytes cannot be read"), -1;
      offset = weights.append(data->data(), data->size());
    }
    return param(c, elem, type.getShape(), c,
                 ::sparq::arm::PipelineArgument::Weight, offset,
                 "weight " + shapeText(type.getShape()));
  }

  /// A compressed weight: the formats library's blob in model.weights,
  /// read in place by the Exprs below (one ImageParam per section read).
  struct Packed {
    uint64_t offset;
    ::sparq::formats::Header h;
    /// CSR: the most entries of a row; BCSR: of a block row.
    int64_t maxRun = 0;
    /// CSR, BCSR: bytes of a column index (PackedView::indexBytes).
    unsigned indexBytes = 0;
    std::map<unsigned, std::string> sections;
    std::string label;
  };
  DenseMap<Value, Packed> packed;

  bool emitPacked(arith::ConstantOp c, const ::sparq::formats::Layout &l) {
    namespace fmt = ::sparq::formats;
    auto type = cast<RankedTensorType>(c.getType());
    for (OpOperand &use : c->getUses())
      if (!isa<linalg::MatmulTransposeBOp, linalg::Conv2DNchwFchwOp>(
              use.getOwner()) ||
          use.getOperandNumber() != 1)
        return fail(use.getOwner(),
                    "compressed weights are supported by the arm target only "
                    "as the weight of a MatMul/Gemm or a plain convolution");
    bool dense =
        l.format == fmt::Format::Dense &&
        (l.quant == fmt::Quant::Ternary || l.quant == fmt::Quant::Int ||
         l.quant == fmt::Quant::Codebook) &&
        l.valueBits() <= 24;
    bool sparse =
        (l.format == fmt::Format::CSR || l.format == fmt::Format::BCSR ||
         l.format == fmt::Format::NM) &&
        l.quant == fmt::Quant::None;
    if (!dense && !sparse)
      return fail(c->use_empty() ? c.getOperation() : *c->getUsers().begin(),
                  "weight format " + fmt::describe(l) +
                      " is not supported by the arm target yet (ternary, int "
                      "and codebook codes, f32 CSR, BCSR and N:M are)");
    int64_t rows = type.getDimSize(0);
    std::string why;
    std::vector<uint8_t> blob = mlir::sparq::packConstant(c, l, why);
    if (blob.empty())
      return fail(c, why);
    Packed p;
    p.offset = weights.append(blob.data(), blob.size());
    fmt::PackedView view(blob.data(), blob.size());
    p.h = view.header();
    if (l.format == fmt::Format::CSR || l.format == fmt::Format::BCSR)
      p.indexBytes = view.indexBytes();
    p.label = "weight " + shapeText(type.getShape()) + ", " + fmt::describe(l);
    if (l.format == fmt::Format::CSR || l.format == fmt::Format::BCSR) {
      const uint32_t *ptr = view.section<uint32_t>(fmt::Section::Ptr);
      int64_t units = l.format == fmt::Format::CSR ? rows : rows / l.blockRows;
      for (int64_t u = 0; u < units; ++u)
        p.maxRun = std::max<int64_t>(p.maxRun, ptr[u + 1] - ptr[u]);
    }
    packed[c.getResult()] = p;
    return true;
  }

  /// The ImageParam over section `s` of `p`, as elements of `type`.
  std::string section(Packed &p, ::sparq::formats::Section s,
                      const std::string &type, int code, int bits) {
    auto it = p.sections.find(s);
    if (it != p.sections.end())
      return it->second;
    int64_t n = std::max<int64_t>(1, int64_t(p.h.size[s]) / (bits / 8));
    static const char *const names[] = {"ptr",   "index",  "values",
                                        "table", "scales", "zero points"};
    int id = param(type, code, bits, {n}, nullptr,
                   ::sparq::arm::PipelineArgument::Weight,
                   p.offset + p.h.offset[s], p.label + ", " + names[s]);
    return p.sections[s] = nodes[id].name;
  }
  /// `param` at `index`, clamped to its extent: Halide cannot bound an
  /// index read from data.
  std::string at(Packed &p, ::sparq::formats::Section s,
                 const std::string &type, int code, int bits,
                 const std::string &index) {
    std::string name = section(p, s, type, code, bits);
    int64_t n = std::max<int64_t>(1, int64_t(p.h.size[s]) / (bits / 8));
    return name + "(clamp(" + index + ", 0, " + std::to_string(n - 1) + "))";
  }
  /// The value of a dense quantized weight at (row r, column k), decoded
  /// as formats::decodeRows does.
  std::string denseValue(Packed &p, const std::string &r,
                         const std::string &k) {
    namespace fmt = ::sparq::formats;
    const fmt::Layout &l = p.h.layout;
    int64_t rows = p.h.rows, cols = p.h.cols;
    int64_t per = fmt::codesPerWord(l);
    unsigned bits = l.valueBits();
    std::string code;
    if (per) {
      std::string words = section(p, fmt::Section::Values, "UInt(32)", 1, 32);
      code = "tiledCode(" + words + ", " + r + ", " + k + ", " +
             std::to_string(rows) + ", " +
             std::to_string((cols + per - 1) / per) + ", " +
             std::to_string(bits) + ", " + std::to_string(fmt::kTileRows) + ")";
    } else if (bits == 8) {
      code = "cast(UInt(32), " +
             at(p, fmt::Section::Values, "UInt(8)", 1, 8,
                r + " * " + std::to_string(cols) + " + " + k) +
             ")";
    } else {
      std::string bytes = section(p, fmt::Section::Values, "UInt(8)", 1, 8);
      code = "bitsAt(" + bytes + ", " + r + " * " +
             std::to_string(fmt::denseRowBytes(l, cols) * 8) + " + " + k +
             " * " + std::to_string(bits) + ", " + std::to_string(bits) + ", " +
             std::to_string(p.h.size[fmt::Section::Values]) + ")";
    }
    auto flt = [&](double v) {
      return literal(FloatAttr::get(Float32Type::get(ctx), v),
                     Float32Type::get(ctx), Syntax::Halide);
    };
    std::string e = "e" + std::to_string(exprCount++);
    defs += "  Expr " + e + " = " + code + ";\n";
    switch (l.quant) {
    case fmt::Quant::Ternary: {
      std::string wp = flt(p.h.wp), wn = flt(p.h.wn);
      if (l.perChannel) {
        wp = at(p, fmt::Section::Scales, "Float(32)", 2, 32, "2 * " + r);
        wn = at(p, fmt::Section::Scales, "Float(32)", 2, 32,
                "2 * " + r + " + 1");
      }
      return "select(" + e + " == 1, " + wp + ", " + e + " == 2, -" + wn +
             ", " + flt(0) + ")";
    }
    case fmt::Quant::Int: {
      int64_t g = l.group ? l.group : cols, groups = cols / g;
      std::string gi = "(" + k + ") / " + std::to_string(g);
      std::string idx = per ? gi + " * " + std::to_string(rows) + " + " + r
                            : r + " * " + std::to_string(groups) + " + " + gi;
      std::string zero =
          l.zeroPoints
              ? "cast(Float(32), " +
                    at(p, fmt::Section::Zeros, "UInt(8)", 1, 8, idx) + ")"
              : flt(double(1u << (l.bits - 1)));
      return "(cast(Float(32), " + e + ") - " + zero + ") * " +
             at(p, fmt::Section::Scales, "Float(32)", 2, 32, idx);
    }
    case fmt::Quant::Codebook:
      return at(p, fmt::Section::Table, "Float(32)", 2, 32,
                "cast(Int(32), " + e + ")");
    default: // emitPacked admits no other codes
      return "";
    }
  }

  /// For a sparse weight: the sum's reduction extents (innermost first)
  /// and, for row `r` and the RDom `rd`, the entry's value and column (as
  /// Exprs defined in `defs`).
  std::vector<int64_t> sparseExtents(Packed &p) {
    namespace fmt = ::sparq::formats;
    const fmt::Layout &l = p.h.layout;
    if (l.format == fmt::Format::CSR)
      return {std::max<int64_t>(1, p.maxRun)};
    if (l.format == fmt::Format::BCSR)
      return {l.blockCols, std::max<int64_t>(1, p.maxRun)};
    return {p.h.cols / l.m * l.n};
  }
  std::pair<std::string, std::string>
  sparseEntry(Packed &p, const std::string &r, const std::string &rd) {
    namespace fmt = ::sparq::formats;
    const fmt::Layout &l = p.h.layout;
    int idxBits = 8 * p.indexBytes;
    std::string idxType = "UInt(" + std::to_string(idxBits) + ")";
    std::string id = std::to_string(exprCount++);
    std::string e = "se" + id, v = "sv" + id, k = "sk" + id;
    auto ptr = [&](const std::string &i) {
      return "cast(Int(32), " + at(p, fmt::Section::Ptr, "UInt(32)", 1, 32, i) +
             ")";
    };
    auto value = [&](const std::string &i) {
      return at(p, fmt::Section::Values, "Float(32)", 2, 32, i);
    };
    std::string s;
    if (l.format == fmt::Format::CSR || l.format == fmt::Format::BCSR) {
      bool csr = l.format == fmt::Format::CSR;
      std::string unit =
          csr ? r : "(" + r + ") / " + std::to_string(l.blockRows);
      std::string t = csr ? rd + "[0]" : rd + "[1]";
      s += "  Expr " + e + " = " + ptr(unit) + " + " + t + ";\n";
      std::string valid = "(" + e + " < " + ptr(unit + " + 1") + ")";
      std::string col = "cast(Int(32), " +
                        at(p, fmt::Section::Index, idxType, 1, idxBits, e) +
                        ")";
      if (csr) {
        s += "  Expr " + k + " = " + col + ";\n";
        s += "  Expr " + v + " = select(" + valid + ", " + value(e) +
             ", 0.0f);\n";
      } else {
        int64_t bc = l.blockCols, br = l.blockRows;
        s += "  Expr " + k + " = " + col + " * " + std::to_string(bc) + " + " +
             rd + "[0];\n";
        s += "  Expr " + v + " = select(" + valid + ", " +
             value(e + " * " + std::to_string(br * bc) + " + (" + r + ") % " +
                   std::to_string(br) + " * " + std::to_string(bc) + " + " +
                   rd + "[0]") +
             ", 0.0f);\n";
      }
    } else { // N:M: slot s of row r holds position `index` of group s / n
      int64_t slots = p.h.cols / l.m * l.n;
      unsigned ib = fmt::nmIndexBits(l.m);
      std::string bytes = section(p, fmt::Section::Index, "UInt(8)", 1, 8);
      s += "  Expr " + e + " = (" + r + ") * " + std::to_string(slots) + " + " +
           rd + "[0];\n";
      s += "  Expr " + k + " = " + rd + "[0] / " + std::to_string(l.n) + " * " +
           std::to_string(l.m) + " + cast(Int(32), bitsAt(" + bytes + ", " + e +
           " * " + std::to_string(ib) + ", " + std::to_string(ib) + ", " +
           std::to_string(p.h.size[fmt::Section::Index]) + "));\n";
      s += "  Expr " + v + " = " + value(e) + ";\n";
    }
    defs += s;
    return {v, "clamp(" + k + ", 0, " + std::to_string(p.h.cols - 1) + ")"};
  }

  bool emitFill(linalg::FillOp f) {
    std::string v = scalar(f.getInputs()[0]);
    if (v.empty())
      return fail(f, "a fill with a value that is not a constant");
    int id = func(f.getResult(0), Kind::Pointwise, f, "fill");
    defs += define(id, v);
    return true;
  }

  bool emitReshape(Operation *op, bool expand) {
    Value src = op->getOperand(0), res = op->getResult(0);
    auto st = cast<RankedTensorType>(src.getType());
    auto rt = cast<RankedTensorType>(res.getType());
    SmallVector<ReassociationIndices> groups =
        expand ? cast<tensor::ExpandShapeOp>(op).getReassociationIndices()
               : cast<tensor::CollapseShapeOp>(op).getReassociationIndices();
    int id = func(res, Kind::Pointwise, op, expand ? "expand" : "collapse");
    nodes[id].view = true;
    SmallVector<std::string> idx(st.getRank());
    // The expanded side's dims of each group, in terms of the collapsed
    // side's index.
    for (auto [k, group] : llvm::enumerate(groups)) {
      ArrayRef<int64_t> wide = expand ? rt.getShape() : st.getShape();
      if (expand) { // source dim k = the group's result dims, linearized
        std::string s;
        int64_t scale = 1;
        for (int64_t d = int64_t(group.size()) - 1; d >= 0; --d) {
          if (wide[group[d]] != 1)
            s = "v" + std::to_string(group[d]) +
                (scale == 1 ? "" : " * " + std::to_string(scale)) +
                (s.empty() ? "" : " + " + s);
          scale *= wide[group[d]];
        }
        idx[k] = s.empty() ? "0" : s;
      } else { // source dim group[d] = result dim k, unraveled
        int64_t scale = 1;
        for (int64_t d = int64_t(group.size()) - 1; d >= 0; --d) {
          std::string s = "v" + std::to_string(k);
          if (scale != 1)
            s = "(" + s + " / " + std::to_string(scale) + ")";
          if (d > 0)
            s = "(" + s + " % " + std::to_string(wide[group[d]]) + ")";
          idx[group[d]] = wide[group[d]] == 1 ? "0" : s;
          scale *= wide[group[d]];
        }
      }
    }
    defs += define(id, read(src, idx, id, false, true));
    return true;
  }

  bool emitTranspose(linalg::TransposeOp t) {
    ArrayRef<int64_t> perm = t.getPermutation();
    int id = func(t.getResult()[0], Kind::Pointwise, t, "transpose");
    nodes[id].view = true;
    SmallVector<std::string> idx(perm.size());
    for (size_t i = 0; i < perm.size(); ++i)
      idx[perm[i]] = "v" + std::to_string(i);
    defs += define(id, read(t.getInput(), idx, id, false, true));
    return true;
  }

  bool emitExtractSlice(tensor::ExtractSliceOp s) {
    if (s.getSourceType().getRank() == 0 ||
        llvm::any_of(s.getStaticOffsets(), ShapedType::isDynamic) ||
        llvm::any_of(s.getStaticStrides(), ShapedType::isDynamic))
      return fail(s, "a slice with run-time offsets");
    llvm::SmallBitVector dropped = s.getDroppedDims();
    int id = func(s.getResult(), Kind::Pointwise, s, "slice");
    nodes[id].view = true;
    SmallVector<std::string> idx;
    int64_t j = 0;
    for (int64_t d = 0; d < s.getSourceType().getRank(); ++d) {
      int64_t off = s.getStaticOffsets()[d], st = s.getStaticStrides()[d];
      if (dropped.test(d)) {
        idx.push_back(std::to_string(off));
        continue;
      }
      std::string v = "v" + std::to_string(j++);
      if (st != 1)
        v += " * " + std::to_string(st);
      idx.push_back(off ? v + " + " + std::to_string(off) : v);
    }
    defs += define(id, read(s.getSource(), idx, id, false, true));
    return true;
  }

  bool emitInsertSlice(tensor::InsertSliceOp s) {
    if (llvm::any_of(s.getStaticOffsets(), ShapedType::isDynamic) ||
        llvm::any_of(s.getStaticSizes(), ShapedType::isDynamic) ||
        llvm::any_of(s.getStaticStrides(), ShapedType::isDynamic))
      return fail(s, "an insert_slice with run-time offsets");
    auto dt = s.getDestType();
    ArrayRef<int64_t> srcShape = s.getSourceType().getShape();
    int id = func(s.getResult(), Kind::Root, s, "insert slice");
    SmallVector<std::string> idx;
    std::string inside;
    size_t j = 0;
    for (int64_t d = 0; d < dt.getRank(); ++d) {
      int64_t off = s.getStaticOffsets()[d], size = s.getStaticSizes()[d],
              st = s.getStaticStrides()[d];
      std::string v = "v" + std::to_string(d);
      std::string rel = off ? "(" + v + " - " + std::to_string(off) + ")" : v;
      std::string cond =
          "(" + v + " >= " + std::to_string(off) + " && " + v + " < " +
          std::to_string(off + (size - 1) * st + 1) +
          (st != 1 ? " && " + rel + " % " + std::to_string(st) + " == 0" : "") +
          ")";
      if (off != 0 || (size - 1) * st + 1 != dt.getDimSize(d))
        inside += (inside.empty() ? "" : " && ") + cond;
      std::string at = st != 1 ? rel + " / " + std::to_string(st) : rel;
      at = "clamp(" + at + ", 0, " + std::to_string(size - 1) + ")";
      if (j < srcShape.size() && srcShape[j] == size)
        idx.push_back(at), ++j;
      else if (size != 1)
        return fail(s, "an insert_slice whose source rank is reduced "
                       "other than by unit dimensions");
    }
    if (j != srcShape.size())
      return fail(s, "an insert_slice whose source does not match its sizes");
    std::string src = read(s.getSource(), idx, id, false, false, true);
    std::string dst =
        read(s.getDest(), identityIndices(dt.getRank()), id, true, false);
    defs += define(id, inside.empty() ? src
                                      : "select(" + inside + ", " + src + ", " +
                                            dst + ")");
    return true;
  }

  bool emitPad(tensor::PadOp p) {
    Value pv = p.getConstantPaddingValue();
    std::string value = pv ? scalar(pv) : "";
    if (value.empty())
      return fail(p, "a pad whose value is not a constant");
    if (llvm::any_of(p.getStaticLow(), ShapedType::isDynamic))
      return fail(p, "a pad of run-time size");
    auto st = p.getSourceType();
    // At root: a convolution then reads it without a bounds test per tap.
    int id = func(p.getResult(), Kind::Root, p, "pad");
    SmallVector<std::string> idx;
    std::string inside;
    for (int64_t d = 0; d < st.getRank(); ++d) {
      int64_t low = p.getStaticLow()[d], n = st.getDimSize(d),
              out = p.getResultType().getDimSize(d);
      std::string v = "v" + std::to_string(d);
      if (low == 0 && n == out) {
        idx.push_back(v);
        continue;
      }
      std::string rel = low ? v + " - " + std::to_string(low) : v;
      inside += std::string(inside.empty() ? "" : " && ") + v +
                " >= " + std::to_string(low) + " && " + v + " < " +
                std::to_string(low + n);
      idx.push_back("clamp(" + rel + ", 0, " + std::to_string(n - 1) + ")");
    }
    std::string src = read(p.getSource(), idx, id, false, false, true);
    defs += define(id, inside.empty() ? src
                                      : "select(" + inside + ", " + src + ", " +
                                            value + ")");
    return true;
  }

  /// A sum over `rdom` (extents innermost first) into a tile: the Acc
  /// `init + sum(product)`, and its wrapper, which is the op's value.
  bool emitSum(
      Operation *op, Value init, const std::string &what,
      const std::vector<int64_t> &rextents,
      const std::function<std::string(int acc, const std::string &r)> &product,
      int channelDim,
      const std::function<std::string(const std::string &)> &finish = nullptr) {
    Value res = op->getResult(0);
    auto rt = cast<RankedTensorType>(res.getType());
    int acc = newNode(Kind::Acc, rt.getShape(), op, what, "a");
    Node &a = nodes[acc];
    a.channelDim = channelDim;
    a.rdom = "r" + std::to_string(acc);
    std::string region;
    for (int64_t e : rextents)
      region += std::string(region.empty() ? "" : ", ") + "{0, " +
                std::to_string(e) + "}";
    defs +=
        "  RDom " + a.rdom + "(Region{" + region + "}, \"" + a.rdom + "\");\n";
    std::string start;
    if (!init || init.getDefiningOp<tensor::EmptyOp>())
      start = "cast(" + halideType(rt.getElementType()) + ", 0)";
    else
      start = read(init, identityIndices(rt.getRank()), acc, true, true);
    defs += define(acc, start);
    std::string p = product(acc, nodes[acc].rdom);
    defs +=
        "  " + nodes[acc].name + "(" + vars(rt.getRank()) + ") += " + p + ";\n";
    int w = func(res, Kind::Pointwise, op, what + " (tile)");
    nodes[acc].wrapper = w;
    std::string sum = nodes[acc].name + "(" + vars(rt.getRank()) + ")";
    defs += define(w, finish ? finish(sum) : sum);
    nodes[acc].uses.push_back({w, true, true});
    return true;
  }

  template <typename MatmulLike> bool emitMatmul(MatmulLike m) {
    Value a = m.getDpsInputOperand(0)->get(),
          b = m.getDpsInputOperand(1)->get();
    Value init = m.getDpsInitOperand(0)->get();
    auto at = cast<RankedTensorType>(a.getType());
    auto bt = cast<RankedTensorType>(b.getType());
    bool batched = isa<linalg::BatchMatmulOp>(m);
    bool transB = isa<linalg::MatmulTransposeBOp>(m);
    int64_t k = at.getShape().back();
    if (transB && packed.count(b)) {
      Packed &p = packed[b];
      const ::sparq::formats::Layout &l = p.h.layout;
      using ::sparq::formats::Quant;
      if (l.actBits == 8 && at.getDimSize(0) == 1 &&
          ::sparq::formats::codesPerWord(l) &&
          (l.quant == Quant::Ternary || (l.quant == Quant::Int && l.bits == 4)))
        return emitInt8Gemv(m, a, init, p);
      if (l.actBits == 8 && at.getDimSize(0) == 1)
        return fail(m, "int8 activations on " + ::sparq::formats::describe(l) +
                           " weights are not supported by the arm target yet "
                           "(ternary and int4 are)");
      std::string what =
          "matmul, " + ::sparq::formats::describe(p.h.layout) + " weight";
      if (!p.h.layout.isSparse())
        return emitSum(
            m, init, what, {k},
            [&](int acc, const std::string &r) {
              return read(a, {"v0", r + "[0]"}, acc, false, false) + " * " +
                     denseValue(p, "v1", r + "[0]");
            },
            0);
      return emitSum(
          m, init, what, sparseExtents(p),
          [&](int acc, const std::string &r) {
            auto [v, col] = sparseEntry(p, "v1", r);
            return v + " * " + read(a, {"v0", col}, acc, false, false);
          },
          0);
    }
    if (transB) {
      // A weight [N, K] is stored [K, N]: the tile reads it contiguously.
      auto c = b.getDefiningOp<arith::ConstantOp>();
      if (c && !bt.getEncoding() && bt.getElementType().isF32() &&
          !mlir::sparq::isSplatConstant(c.getValue())) {
        std::vector<float> v =
            mlir::sparq::floatValues(cast<ElementsAttr>(c.getValue()));
        int64_t n = bt.getDimSize(0);
        std::vector<float> t(v.size());
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < k; ++j)
            t[j * n + i] = v[i * k + j];
        uint64_t offset = weights.append(t.data(), t.size() * sizeof(float));
        int id = param(Value(), bt.getElementType(), {k, n}, m,
                       ::sparq::arm::PipelineArgument::Weight, offset,
                       "weight " + shapeText({n, k}) + ", stored transposed");
        return emitSum(
            m, init, "matmul", {k},
            [&](int acc, const std::string &r) {
              nodes[id].uses.push_back({acc, false, false});
              return read(a, {"v0", r + "[0]"}, acc, false, false) + " * " +
                     nodes[id].name + "(v1, " + r + "[0])";
            },
            0);
      }
    }
    return emitSum(
        m, init, batched ? "batch matmul" : "matmul", {k},
        [&](int acc, const std::string &r) {
          std::string rk = r + "[0]";
          if (batched)
            return read(a, {"v0", "v1", rk}, acc, false, false) + " * " +
                   read(b, {"v0", rk, "v2"}, acc, false, false);
          return read(a, {"v0", rk}, acc, false, false) + " * " +
                 (transB ? read(b, {"v1", rk}, acc, false, false)
                         : read(b, {rk, "v1"}, acc, false, false));
        },
        batched ? 1 : 0);
  }

  /// y = x W^T for one row x on int8 activations (Layout::actBits = 8),
  /// as the host's GEMV computes it: x quantized to int8 per block of
  /// columns (scale max|x| / 127, rounded to nearest even), each block's
  /// codes times int8 x summed exactly in int32 (the dot products the
  /// target has: sdot with arm_dot_prod), then scaled. Ternary: the sums
  /// of x over +1 codes and over -1 codes, times Wp and Wn; int4: per group,
  /// scale * (sum code * x - zero * sum x).
  bool emitInt8Gemv(Operation *op, Value x, Value init, Packed &p) {
    namespace fmt = ::sparq::formats;
    const fmt::Layout &l = p.h.layout;
    int64_t rows = p.h.rows, cols = p.h.cols;
    bool ternary = l.quant == fmt::Quant::Ternary;
    int64_t g = ternary || !l.group ? cols : l.group;
    int64_t groups = cols / g;
    // The host's blocks (kernels/PackedKernels.cpp): 128 columns, or, for
    // groups that are a part of a row, a common divisor of both.
    int64_t block =
        ternary || g == cols ? 128 : 8 * std::gcd(g / 8, int64_t(16));
    int64_t blocks = (cols + block - 1) / block;
    int64_t perGroup = g == cols ? blocks : g / block;
    std::string id = std::to_string(nodes.size());
    auto name = [&](const char *n) { return std::string(n) + id; };
    std::string K = std::to_string(cols), B = std::to_string(block);
    std::string xa = name("xa"), amax = name("amax"), xq = name("xq"),
                qsum = name("qsum"), rb = name("rb"), rj = name("rj");
    Value res = op->getResult(0);
    int out =
        func(res, Kind::Root, op,
             "matvec on int8 activations, " + fmt::describe(l) + " weight");
    std::string s;
    s += "  // int8 activations: x in blocks of " + B + " columns\n";
    s += "  Func " + xa + "(\"" + xa + "\"), " + amax + "(\"" + amax + "\"), " +
         xq + "(\"" + xq + "\"), " + qsum + "(\"" + qsum + "\");\n";
    s += "  RDom " + rb + "(0, " + B + ", \"" + rb + "\");\n";
    s += "  " + xa + "(v0) = select(v0 < " + K + ", " +
         read(x, {"0", "clamp(v0, 0, " + std::to_string(cols - 1) + ")"}, out,
              false, false) +
         ", 0.0f);\n";
    s += "  " + amax + "(v0) = 0.0f;\n  " + amax + "(v0) = max(" + amax +
         "(v0), abs(" + xa + "(v0 * " + B + " + " + rb + ")));\n";
    s += "  " + xq + "(v0) = cast(Int(8), round(" + xa + "(v0) * select(" +
         amax + "(v0 / " + B + ") > 0.0f, 127.0f / " + amax + "(v0 / " + B +
         "), 0.0f)));\n";
    s += "  " + qsum + "(v0) = 0;\n  " + qsum + "(v0) += cast(Int(32), " + xq +
         "(v0 * " + B + " + " + rb + "));\n";
    std::string wordsParam =
        section(p, fmt::Section::Values, "UInt(32)", 1, 32);
    // codes(row, column) as int8, decoded a tile of rows at a time (in the
    // group sums' parallel tiles): whole tiled words, one per row, in a
    // vector.
    std::string codes = name("codes");
    s += "  Func " + codes + "(\"" + codes + "\");\n  " + codes +
         "(v0, v1) = cast(Int(8), tiledCode(" + wordsParam + ", v0, v1, " +
         std::to_string(rows) + ", " +
         std::to_string((cols + fmt::codesPerWord(l) - 1) /
                        fmt::codesPerWord(l)) +
         ", " + std::to_string(l.valueBits()) + ", " +
         std::to_string(fmt::kTileRows) + "));\n";
    std::string code = codes + "(v0, v1 * " + B + " + " + rj + ")";
    // dot(row, block): codes (as int8) times int8 x, exact in int32.
    SmallVector<std::pair<std::string, std::string>> dots;
    if (ternary)
      dots = {{name("dotp"), "select(" + code + " == 1, 1, 0)"},
              {name("dotn"), "select(" + code + " == 2, 1, 0)"}};
    else
      dots = {{name("dot"), code}};
    s += "  RDom " + rj + "(0, " + B + ", \"" + rj + "\");\n";
    for (auto &[d, c] : dots)
      s += "  Func " + d + "(\"" + d + "\");\n  " + d + "(v0, v1) = 0;\n  " +
           d + "(v0, v1) += cast(Int(32), cast(Int(8), " + c +
           ")) * cast(Int(32), " + xq + "(v1 * " + B + " + " + rj + "));\n";
    s += "  " + amax + ".compute_root();\n  " + xq + ".compute_root();\n  " +
         qsum + ".compute_root();\n";
    auto flt = [&](double v) {
      return literal(FloatAttr::get(Float32Type::get(ctx), v),
                     Float32Type::get(ctx), Syntax::Halide);
    };
    auto scale = [&](const std::string &b) {
      return "(" + amax + "(" + b + ") / 127.0f)";
    };
    // sg(row, group): the group's blocks' sums, scaled by x's block scales
    // (ternary: one group, Wp and Wn applied).
    std::string sg = name("sg"), rr = name("rr");
    int64_t sums = ternary ? 1 : groups, per = ternary ? blocks : perGroup;
    s += "  Func " + sg + "(\"" + sg + "\");\n";
    s += "  RDom " + rr + "(0, " + std::to_string(per) + ", \"" + rr + "\");\n";
    std::string b = "v1 * " + std::to_string(per) + " + " + rr;
    auto dotAt = [&](int i) {
      return "cast(Float(32), " + dots[i].first + "(v0, " + b + "))";
    };
    std::string term = dotAt(0);
    if (ternary) {
      std::string wp = flt(p.h.wp), wn = flt(p.h.wn);
      if (l.perChannel) {
        wp = at(p, fmt::Section::Scales, "Float(32)", 2, 32, "2 * v0");
        wn = at(p, fmt::Section::Scales, "Float(32)", 2, 32, "2 * v0 + 1");
      }
      term = "(" + wp + " * " + dotAt(0) + " - " + wn + " * " + dotAt(1) + ")";
    }
    s += "  " + sg + "(v0, v1) = 0.0f;\n  " + sg + "(v0, v1) += " + scale(b) +
         " * " + term + ";\n";
    // Parallel over tiles of 16 rows; in each, the dot products of its
    // rows, 4 rows by 4 columns per sdot. (Parallel loops of the dot
    // products' own would make their stores atomic.)
    s += "  {\n    Var vo, vi;\n    RVar jo, ji;\n    " + sg +
         ".compute_root().split(v0, vo, vi, 16).parallel(vo).vectorize(vi, "
         "4);\n    " +
         sg +
         ".update().split(v0, vo, vi, 16).parallel(vo).vectorize(vi, 4);\n";
    s += "    " + codes + ".compute_at(" + sg +
         ", vo).reorder_storage(v0, v1).vectorize(v0, 16, "
         "TailStrategy::GuardWithIf);\n";
    for (auto &[d, c] : dots)
      s += "    " + d + ".compute_at(" + sg + ", vo).update().split(" + rj +
           ", jo, ji, 4).split(v0, v0, vi, 4).reorder(ji, vi, jo, v1, v0)"
           ".atomic().vectorize(ji).vectorize(vi);\n";
    s += "  }\n";
    std::string start = init.getDefiningOp<tensor::EmptyOp>()
                            ? flt(0)
                            : read(init, {"v0", "v1"}, out, true, true);
    s += define(out, start);
    std::string rg = name("rg");
    s +=
        "  RDom " + rg + "(0, " + std::to_string(sums) + ", \"" + rg + "\");\n";
    if (ternary) {
      s += "  " + nodes[out].name + "(v1, v0) += " + sg + "(v1, " + rg + ");\n";
    } else {
      std::string xs = name("xs");
      std::string bx = "v0 * " + std::to_string(per) + " + " + rr;
      s += "  Func " + xs + "(\"" + xs + "\");\n  " + xs + "(v0) = 0.0f;\n  " +
           xs + "(v0) += " + scale(bx) + " * cast(Float(32), " + qsum + "(" +
           bx + "));\n  " + xs + ".compute_root();\n";
      std::string idx = rg + " * " + std::to_string(rows) + " + v1";
      std::string zero =
          l.zeroPoints
              ? "cast(Float(32), " +
                    at(p, fmt::Section::Zeros, "UInt(8)", 1, 8, idx) + ")"
              : flt(double(1u << (l.bits - 1)));
      s += "  " + nodes[out].name + "(v1, v0) += " +
           at(p, fmt::Section::Scales, "Float(32)", 2, 32, idx) + " * (" + sg +
           "(v1, " + rg + ") - " + zero + " * " + xs + "(" + rg + "));\n";
    }
    defs += s;
    dotProducts = true;
    return true;
  }

  /// sparq.correlation: the patches' sums as a convolution's (in register
  /// tiles, the patch axis unrolled), divided in the tile by the window's
  /// norm; the energy is a box filter of the squared search, separable:
  /// over channels, then along rows, then along columns.
  bool emitCorrelation(mlir::sparq::CorrelationOp op) {
    auto st = cast<RankedTensorType>(op.getSearch().getType());
    auto pt = cast<RankedTensorType>(op.getPatches().getType());
    auto ot = cast<RankedTensorType>(op.getType());
    int64_t c = st.getDimSize(1), kh = pt.getDimSize(2), kw = pt.getDimSize(3);
    std::string s = std::to_string(op.getStride());
    std::string id = std::to_string(nodes.size());
    std::string sq = "sq" + id, rows = "rows" + id, norm = "norm" + id;
    // The reads below belong to the sum about to be made (emitSum's first
    // node).
    int user = int(nodes.size());
    std::string e;
    e += "  Func " + sq + "(\"" + sq + "\"), " + rows + "(\"" + rows + "\"), " +
         norm + "(\"" + norm + "\");\n";
    e += "  RDom rc" + id + "(0, " + std::to_string(c) + "), ri" + id + "(0, " +
         std::to_string(kh) + "), rj" + id + "(0, " + std::to_string(kw) +
         ");\n";
    std::string x =
        read(op.getSearch(), {"v2", "rc" + id, "v1", "v0"}, user, false, false);
    e += "  " + sq + "(v0, v1, v2) = 0.0f;\n  " + sq + "(v0, v1, v2) += " + x +
         " * " + x + ";\n";
    e += "  " + rows + "(v0, v1, v2) = 0.0f;\n  " + rows +
         "(v0, v1, v2) += " + sq + "(v0 * " + s + " + rj" + id + ", v1, v2);\n";
    e += "  " + norm + "(v0, v1, v2) = 0.0f;\n  " + norm +
         "(v0, v1, v2) += " + rows + "(v0, v1 * " + s + " + ri" + id +
         ", v2);\n";
    auto ext = [](int64_t a, int64_t b, int64_t c) {
      return "{" + std::to_string(a) + ", " + std::to_string(b) + ", " +
             std::to_string(c) + "}";
    };
    e += "  root(" + sq + ", " +
         ext(st.getDimSize(3), st.getDimSize(2), st.getDimSize(0)) + ");\n";
    e += "  root(" + rows + ", " +
         ext(ot.getDimSize(3), st.getDimSize(2), st.getDimSize(0)) + ");\n";
    e += "  root(" + norm + ", " +
         ext(ot.getDimSize(3), ot.getDimSize(2), ot.getDimSize(0)) + ");\n";
    defs += e;
    Type f32 = Float32Type::get(ctx);
    std::string eps = literal(FloatAttr::get(f32, op.getEps().convertToFloat()),
                              f32, Syntax::Halide);
    return emitSum(
        op, Value(),
        "correlation of " + std::to_string(pt.getDimSize(0)) + " patches " +
            shapeText(pt.getShape().drop_front()) + ", stride " + s,
        {kw, kh, c},
        [&](int acc, const std::string &r) {
          std::string rx = r + "[0]", ry = r + "[1]", rc = r + "[2]";
          return read(op.getSearch(),
                      {"v0", rc, "v2 * " + s + " + " + ry,
                       "v3 * " + s + " + " + rx},
                      acc, false, false) +
                 " * " +
                 read(op.getPatches(), {"v1", rc, ry, rx}, acc, false, false);
        },
        1,
        [&](const std::string &sum) {
          return sum + " / sqrt(" + norm + "(v3, v2, v0) + " + eps + ")";
        });
  }

  template <typename Conv> bool emitConv(Conv c) {
    SmallVector<int64_t> s(c.getStrides().template getValues<int64_t>());
    SmallVector<int64_t> d(c.getDilations().template getValues<int64_t>());
    Value in = c.getDpsInputOperand(0)->get(),
          w = c.getDpsInputOperand(1)->get();
    Value init = c.getDpsInitOperand(0)->get();
    auto wt = cast<RankedTensorType>(w.getType());
    auto it = cast<RankedTensorType>(in.getType());
    bool grouped = isa<linalg::Conv2DNgchwGfchwOp>(c);
    bool depthwise = isa<linalg::DepthwiseConv2DNchwChwOp>(c);
    int64_t kh = wt.getDimSize(wt.getRank() - 2), kw = wt.getShape().back();
    int x = grouped ? 4 : 3, y = x - 1;
    auto tap = [&](int dim, const std::string &r, int64_t stride, int64_t dil) {
      return "v" + std::to_string(dim) +
             (stride != 1 ? " * " + std::to_string(stride) : "") + " + " + r +
             (dil != 1 ? " * " + std::to_string(dil) : "");
    };
    std::string what =
        std::string(depthwise ? "depthwise conv "
                    : grouped ? "grouped conv "
                              : "conv ") +
        std::to_string(kh) + "x" + std::to_string(kw) +
        (s[0] != 1 || s[1] != 1 ? ", stride " + std::to_string(s[0]) : "") +
        (d[0] != 1 || d[1] != 1 ? ", dilation " + std::to_string(d[0]) : "");
    std::vector<int64_t> rext = {kw, kh};
    if (!depthwise)
      rext.push_back(it.getDimSize(grouped ? 2 : 1));
    if (packed.count(w)) {
      Packed &p = packed[w];
      what += ", " + ::sparq::formats::describe(p.h.layout) + " weight";
      if (!p.h.layout.isSparse()) {
        // Decoded a channel tile at a time (Decoded nodes are computed at
        // the tile's channel loop), then read as a dense weight.
        int dec = newNode(Kind::Decoded, {p.h.rows, p.h.cols}, c,
                          "decoded weight", "d");
        defs += define(dec, denseValue(p, "v0", "v1"));
        std::string dn = nodes[dec].name;
        bool ok = emitSum(
            c, init, what, rext,
            [&](int acc, const std::string &r) {
              nodes[acc].decoded = dec;
              return read(in,
                          {"v0", r + "[2]", tap(y, r + "[1]", s[0], d[0]),
                           tap(x, r + "[0]", s[1], d[1])},
                          acc, false, false) +
                     " * " + dn + "((" + r + "[2] * " + std::to_string(kh) +
                     " + " + r + "[1]) * " + std::to_string(kw) + " + " + r +
                     "[0], v1)";
            },
            1);
        return ok;
      }
      return emitSum(
          c, init, what, sparseExtents(p),
          [&](int acc, const std::string &r) {
            auto [v, col] = sparseEntry(p, "v1", r);
            std::string kk = std::to_string(kh * kw), kws = std::to_string(kw);
            std::string ch = "(" + col + ") / " + kk;
            std::string ky =
                "(" + col + ") / " + kws + " % " + std::to_string(kh);
            std::string kx = "(" + col + ") % " + kws;
            return v + " * " +
                   read(in,
                        {"v0", ch, tap(y, ky, s[0], d[0]),
                         tap(x, kx, s[1], d[1])},
                        acc, false, false);
          },
          1);
    }
    return emitSum(
        c, init, what, rext,
        [&](int acc, const std::string &r) {
          std::string rx = r + "[0]", ry = r + "[1]", rc = r + "[2]";
          std::string ix = tap(x, rx, s[1], d[1]), iy = tap(y, ry, s[0], d[0]);
          if (depthwise)
            return read(in, {"v0", "v1", iy, ix}, acc, false, false) + " * " +
                   read(w, {"v1", ry, rx}, acc, false, false);
          if (grouped)
            return read(in, {"v0", "v1", rc, iy, ix}, acc, false, false) +
                   " * " + read(w, {"v1", "v2", rc, ry, rx}, acc, false, false);
          return read(in, {"v0", rc, iy, ix}, acc, false, false) + " * " +
                 read(w, {"v1", rc, ry, rx}, acc, false, false);
        },
        grouped ? 2 : 1);
  }

  bool emitGeneric(linalg::GenericOp g);

  bool emitFunc(func::FuncOp f, std::string &outputs) {
    for (auto [k, a] : llvm::enumerate(f.getArguments())) {
      auto t = dyn_cast<RankedTensorType>(a.getType());
      if (!t || !t.hasStaticShape() || halideType(t.getElementType()).empty() ||
          t.getElementType().isIndex()) {
        error = "input " + std::to_string(k) +
                " has no static shape of a supported element type";
        return false;
      }
      int id = param(a, t.getElementType(), t.getShape(), nullptr,
                     ::sparq::arm::PipelineArgument::Input, k, "input");
      nodes[id].input = true;
    }
    for (Operation &op : f.getBody().front()) {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        for (auto [k, v] : llvm::enumerate(ret.getOperands())) {
          auto t = cast<RankedTensorType>(v.getType());
          int id = newNode(Kind::Root, t.getShape(), nullptr,
                           "output " + std::to_string(k));
          defs +=
              define(id, read(v, identityIndices(t.getRank()), id, true, true));
          defs += "  fix(" + nodes[id].name + ".output_buffer(), " +
                  extents(t.getShape()) + ");\n";
          outputs += std::string(outputs.empty() ? "" : ", ") + nodes[id].name;
          ::sparq::arm::PipelineArgument o;
          o.kind = ::sparq::arm::PipelineArgument::Output;
          o.index = k;
          Type e = t.getElementType();
          o.code = e.isF32() || e.isF64() ? 2 : e.isInteger(1) ? 1 : 0;
          o.bits = e.isInteger(1) ? 1 : int(e.getIntOrFloatBitWidth());
          o.shape.assign(t.getShape().begin(), t.getShape().end());
          arguments.push_back(o);
        }
        continue;
      }
      if (!emitOp(&op))
        return false;
    }
    return true;
  }

  /// Inline, root or tile decisions, written as schedule calls.
  std::string schedule(std::string &summary);
};

/// The body of a linalg.generic as Halide Exprs.
bool Emitter::emitGeneric(linalg::GenericOp g) {
  if (g.getNumResults() != 1)
    return fail(g, "a generic with several results");
  SmallVector<int64_t> ranges = g.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iters = g.getIteratorTypesArray();
  OpOperand *out = g.getDpsInitOperand(0);
  AffineMap outMap = g.getMatchingIndexingMap(out);
  auto rt = cast<RankedTensorType>(g.getResult(0).getType());
  SmallVector<int64_t> reductions;
  for (size_t i = 0; i < iters.size(); ++i)
    if (iters[i] != utils::IteratorType::parallel)
      reductions.push_back(ranges[i]);
  if (!outMap.isProjectedPermutation() ||
      outMap.getNumResults() != iters.size() - reductions.size())
    return fail(g, "a generic whose output is not indexed by its parallel "
                   "loops");
  bool reduces = !reductions.empty();
  int id = func(g.getResult(0), reduces ? Kind::Root : Kind::Pointwise, g,
                reduces ? "reduction" : "elementwise");
  std::string rdom = "r" + std::to_string(id);
  // Each loop dimension as a Halide expression.
  SmallVector<std::string> dim(iters.size());
  for (auto [j, e] : llvm::enumerate(outMap.getResults()))
    dim[cast<AffineDimExpr>(e).getPosition()] = "v" + std::to_string(j);
  if (reduces) {
    std::string region;
    int k = 0;
    for (size_t i = 0; i < iters.size(); ++i)
      if (iters[i] != utils::IteratorType::parallel) {
        region += std::string(region.empty() ? "" : ", ") + "{0, " +
                  std::to_string(ranges[i]) + "}";
        dim[i] = rdom + "[" + std::to_string(k++) + "]";
      }
    defs += "  RDom " + rdom + "(Region{" + region + "}, \"" + rdom + "\");\n";
  }
  std::function<std::string(AffineExpr)> affine = [&](AffineExpr e) {
    if (auto d = dyn_cast<AffineDimExpr>(e))
      return dim[d.getPosition()];
    if (auto c = dyn_cast<AffineConstantExpr>(e))
      return std::to_string(c.getValue());
    auto b = cast<AffineBinaryOpExpr>(e);
    std::string l = affine(b.getLHS()), r = affine(b.getRHS());
    switch (e.getKind()) {
    case AffineExprKind::Add:
      return "(" + l + " + " + r + ")";
    case AffineExprKind::Mul:
      return "(" + l + " * " + r + ")";
    case AffineExprKind::FloorDiv:
      return "(" + l + " / " + r + ")"; // Halide's / is floor division
    case AffineExprKind::Mod:
      return "(" + l + " % " + r + ")";
    case AffineExprKind::CeilDiv:
      return "((" + l + " + " + r + " - 1) / " + r + ")";
    default:
      return std::string();
    }
  };
  std::string pre;
  DenseMap<Value, std::string> names;
  Block &body = g.getRegion().front();
  for (OpOperand *in : g.getDpsInputOperands()) {
    BlockArgument arg = body.getArgument(in->getOperandNumber());
    if (!isa<RankedTensorType>(in->get().getType())) {
      std::string v = scalar(in->get());
      if (v.empty())
        return fail(g, "a generic with a scalar operand that is not constant");
      names[arg] = v;
      continue;
    }
    if (arg.use_empty())
      continue;
    AffineMap map = g.getMatchingIndexingMap(in);
    SmallVector<std::string> idx;
    for (AffineExpr e : map.getResults())
      idx.push_back(affine(e));
    bool identity =
        !reduces && map == outMap &&
        cast<RankedTensorType>(in->get().getType()).getShape() == rt.getShape();
    std::string e = "e" + std::to_string(exprCount++);
    pre += "  Expr " + e + " = " +
           read(in->get(), idx, id, identity, !reduces) + ";\n";
    names[arg] = e;
  }
  BlockArgument outArg = body.getArgument(g.getNumDpsInputs());
  std::string start;
  if (reduces || !outArg.use_empty()) {
    if (out->get().getDefiningOp<tensor::EmptyOp>())
      start = "cast(" + halideType(rt.getElementType()) + ", 0)";
    else
      // Read once per point either way: a reduction's start value too.
      start =
          read(out->get(), identityIndices(rt.getRank()), id, !reduces, true);
  }
  std::string self = nodes[id].name + "(" + vars(rt.getRank()) + ")";
  if (reduces) {
    defs += "  " + self + " = " + start + ";\n";
    names[outArg] = self;
  } else if (!outArg.use_empty()) {
    names[outArg] = start;
  }
  defs += pre;
  auto name = [&](Value v) -> std::string {
    std::string n = names.lookup(v);
    if (n.empty())
      if (auto c = v.getDefiningOp<arith::ConstantOp>();
          c && !isa<ShapedType>(c.getType()))
        n = literal(c.getValue(), c.getType(), Syntax::Halide);
    return n;
  };
  for (Operation &op : body.without_terminator()) {
    if (op.getNumResults() != 1 || op.getNumRegions())
      return fail(g, "a generic whose body holds '" +
                         op.getName().getStringRef().str() + "'");
    std::string expr;
    if (auto i = dyn_cast<linalg::IndexOp>(op)) {
      expr = dim[i.getDim()];
    } else if (auto x = dyn_cast<tensor::ExtractOp>(op)) {
      auto t = cast<RankedTensorType>(x.getTensor().getType());
      if (!ids.count(x.getTensor()) && !lazyWeights.count(x.getTensor()))
        return fail(g, "a generic reading a tensor it cannot see");
      SmallVector<std::string> idx;
      for (auto [d, v] : llvm::enumerate(x.getIndices()))
        idx.push_back("clamp(cast(Int(32), " + name(v) + "), 0, " +
                      std::to_string(t.getDimSize(d) - 1) + ")");
      expr = read(x.getTensor(), idx, id, false, false, true);
    } else {
      SmallVector<std::string> operands;
      for (Value v : op.getOperands())
        operands.push_back(name(v));
      if (llvm::any_of(operands,
                       [](const std::string &s) { return s.empty(); }))
        return fail(g, "a generic body reading a scalar computed outside it");
      expr = scalarExpression(&op, operands, Syntax::Halide);
    }
    if (expr.empty())
      return fail(g, "'" + op.getName().getStringRef().str() +
                         "' in a generic body is not supported by the arm "
                         "target yet");
    std::string e = "e" + std::to_string(exprCount++);
    defs += "  Expr " + e + " = " + expr + ";\n";
    names[op.getResult(0)] = e;
  }
  std::string result =
      name(cast<linalg::YieldOp>(body.getTerminator()).getOperand(0));
  if (result.empty())
    return fail(g, "a generic yielding a value from outside its body");
  defs += "  " + self + " = " + result + ";\n";
  return true;
}

std::string Emitter::schedule(std::string &summary) {
  // Pointwise Funcs with one pointwise reader are inlined into it, views
  // into any one reader.
  for (Node &n : nodes)
    n.inlined = n.kind == Kind::Pointwise && n.uses.size() == 1 &&
                (n.uses[0].pointwise || n.view);
  // Each sum is computed in the tiles of the first Func after it that is
  // not inlined, if all between read point for point; otherwise the last
  // Func of the chain that is is computed at root and holds the tiles.
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].kind != Kind::Acc)
      continue;
    int cur = nodes[i].wrapper;
    while (nodes[cur].inlined) {
      const Node::Use &u = nodes[cur].uses[0];
      if (!u.identity || nodes[u.user].shape != nodes[cur].shape) {
        nodes[cur].inlined = false;
        break;
      }
      cur = u.user;
    }
    nodes[cur].tiles.push_back(int(i));
  }
  std::string s;
  for (Node &n : nodes) {
    std::string how;
    if (n.kind == Kind::Param || n.kind == Kind::Acc || n.kind == Kind::Decoded)
      continue;
    if (n.uses.empty() && n.name.rfind("f", 0) == 0 &&
        n.what.rfind("output", 0) != 0)
      continue; // dead
    if (n.inlined) {
      how = "inline";
    } else if (!n.tiles.empty()) {
      std::string accs;
      for (int a : n.tiles)
        accs += std::string(accs.empty() ? "" : ", ") + "{" + nodes[a].name +
                ", " + nodes[a].rdom + "}";
      int rank = int(n.shape.size());
      int c = nodes[n.tiles[0]].channelDim;
      std::string decoded;
      for (int a : n.tiles)
        if (nodes[a].decoded >= 0)
          decoded += std::string(decoded.empty() ? "" : ", ") +
                     nodes[nodes[a].decoded].name;
      s += "  tiled(" + n.name + ", " + extents(n.shape) + ", " +
           std::to_string(c < 0 ? -1 : rank - 1 - c) + ", {" + accs + "}" +
           (decoded.empty() ? "" : ", {" + decoded + "}") + ");\n";
      how = "root, tiles holding";
      for (int a : n.tiles)
        how += " " + nodes[a].name + " (" + nodes[a].what + ")";
    } else {
      s += "  root(" + n.name + ", " + extents(n.shape) + ");\n";
      how = "root";
    }
    summary += n.name + " " + n.what +
               (n.node.empty() ? "" : " '" + n.node + "'") + ": " + how + "\n";
  }
  return s;
}

/// The generator's fixed part: Vars, shape constraints and the two
/// schedules.
const char *kPrelude = R"(#include "Halide.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

using namespace Halide;

namespace {

Var v0("v0"), v1("v1"), v2("v2"), v3("v3"), v4("v4"), v5("v5"), v6("v6"),
    v7("v7");
int V = 4; // the target's f32 vector width, set in main

/// Fixes a buffer's extents (innermost first), dense, so that every bound
/// is a constant.
template <typename P> void fix(P p, const std::vector<int> &extents) {
  int stride = 1;
  for (size_t d = 0; d < extents.size(); ++d) {
    p.dim(int(d)).set_bounds(0, extents[d]).set_stride(stride);
    stride *= extents[d];
  }
}

/// The widest vector of `want` lanes or fewer, halving down to 4, that
/// `extent` points fill; 1 where not even 4 do.
int lanes(int extent, int want) {
  while (want > 4 && want > extent)
    want /= 2;
  return want <= extent ? want : 1;
}

/// At root: vectorized along the innermost axis, parallel over the
/// outermost axis with more than one point.
void root(Func f, const std::vector<int> &extents) {
  f.compute_root();
  std::vector<Var> a = f.args();
  int v = a.empty() ? 1 : lanes(extents[0], V);
  auto stage = [&](Stage s) {
    if (v > 1)
      s.vectorize(a[0], v);
    for (int d = int(a.size()) - 1; d > 0; --d)
      if (extents[d] > 1) {
        s.parallel(a[d]);
        break;
      }
  };
  stage(f);
  for (int u = 0; u < f.num_update_definitions(); ++u)
    stage(f.update(u));
}

/// At root in tiles of (up to) 2V points along the innermost axis by 4
/// along axis `c` (-1: none), each computing the sums `accs` it reads
/// inside it: their accumulators stay in registers across the reduction.
void tiled(Func out, const std::vector<int> &extents, int c,
           const std::vector<std::pair<Func, RDom>> &accs,
           const std::vector<Func> &decoded = {}) {
  std::vector<Var> a = out.args();
  int n = int(a.size());
  int vx = lanes(extents[0], 2 * V);
  int cb = c > 0 && extents[c] % 4 == 0 ? 4 : c > 0 && extents[c] % 2 == 0 ? 2 : 1;
  Var xo("xo"), xi("xi"), co("co"), ci("ci");
  out.compute_root().split(a[0], xo, xi, vx);
  std::vector<VarOrRVar> order = {xi};
  if (c > 0) {
    out.split(a[c], co, ci, cb);
    order.push_back(ci);
  }
  order.push_back(xo);
  for (int d = 1; d < n; ++d)
    if (d != c && (c < 0 || d < c))
      order.push_back(a[d]);
  if (c > 0)
    order.push_back(co);
  for (int d = c + 1; c > 0 && d < n; ++d)
    order.push_back(a[d]);
  out.reorder(order);
  if (vx > 1)
    out.vectorize(xi);
  if (cb > 1)
    out.unroll(ci);
  // Parallel over the outermost loop with more than one iteration.
  bool parallel = false;
  for (int d = n - 1; d > (c > 0 ? c : 0) && !parallel; --d)
    if (extents[d] > 1)
      out.parallel(a[d]), parallel = true;
  if (!parallel && c > 0 && extents[c] / cb > 1)
    out.parallel(co), parallel = true;
  for (int d = (c > 0 ? c : n) - 1; d > 0 && !parallel; --d)
    if (extents[d] > 1)
      out.parallel(a[d]), parallel = true;
  if (!parallel && extents[0] / vx > 1)
    out.parallel(xo);
  // Compressed weights decoded for the tile's channels, once per channel
  // tile.
  for (Func d : decoded) {
    d.compute_at(out, c > 0 ? co : xo);
    d.vectorize(d.args()[0], 4);
  }
  for (const auto &[acc, r] : accs) {
    std::vector<Var> b = acc.args();
    Func f = acc;
    f.compute_at(out, xo);
    std::vector<VarOrRVar> inner = {b[0]};
    if (c > 0)
      inner.push_back(b[c]);
    for (int k = 0; k < r.dimensions(); ++k)
      inner.push_back(r[k]);
    f.update().reorder(inner);
    if (vx > 1)
      f.vectorize(b[0], vx).update().vectorize(b[0], vx);
    if (cb > 1)
      f.unroll(b[c], cb).update().unroll(b[c], cb);
  }
}

/// Code (row r, column k) of a dense weight stored as tiled words: `words`
/// uint32 words a row, `bits` bits a code, tiles of `tile` rows stored word
/// by word (runtime/formats/Packed.h, tiledWordIndex).
Expr tiledCode(ImageParam w, Expr r, Expr k, int rows, int words, int bits,
               int tile) {
  int per = 32 / bits;
  Expr t0 = r / tile * tile;
  // Whole tiles: a constant tile height, so that Halide sees the words of
  // consecutive rows as consecutive.
  Expr at = rows % tile == 0
                ? t0 * words + k / per * tile + r % tile
                : t0 * words + k / per * min(tile, rows - t0) + (r - t0);
  Expr word = w(clamp(at, 0, rows * words - 1));
  return (word >> cast(UInt(32), k % per * bits)) &
         cast(UInt(32), (1 << bits) - 1);
}

/// `bits` (<= 24) bits at bit `pos` of a string of `bytes` bytes, least
/// significant first (formats::readBits).
Expr bitsAt(ImageParam b, Expr pos, int bits, int bytes) {
  Expr byte = pos / 8;
  Expr v = cast(UInt(32), 0);
  for (int i = 0; i < 4; ++i)
    v = v | (cast(UInt(32), b(clamp(byte + i, 0, bytes - 1))) << (8 * i));
  return (v >> cast(UInt(32), pos % 8)) & cast(UInt(32), (1 << bits) - 1);
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s HALIDE_TARGET[,TARGET...] OUTDIR\n",
                 argv[0]);
    return 2;
  }
  // Several targets (the most capable first, the baseline last): one
  // library that runs the first one the CPU can.
  std::vector<Target> targets;
  for (std::string t = argv[1], rest; !t.empty(); t = rest) {
    size_t comma = t.find(',');
    rest = comma == std::string::npos ? "" : t.substr(comma + 1);
    targets.emplace_back(t.substr(0, comma));
  }
  V = targets.back().natural_vector_size<float>();
  std::string dir = argv[2];
  std::vector<Argument> args;

)";

} // namespace

bool ::sparq::arm::emitPipeline(ModuleOp module, const std::string &header,
                                ::sparq::io::WeightsBlob &weights,
                                Pipeline &pipeline, std::string &error) {
  auto f = module.lookupSymbol<func::FuncOp>("forward");
  if (!f) {
    error = "the module has no @forward";
    return false;
  }
  Emitter e(weights, pipeline.arguments);
  e.ctx = module.getContext();
  std::string outputs;
  if (!e.emitFunc(f, outputs) || !e.error.empty()) {
    error = e.error;
    return false;
  }
  // The ImageParams first (inputs, then weights), as model.cpp passes them.
  std::stable_partition(pipeline.arguments.begin(), pipeline.arguments.end(),
                        [](const PipelineArgument &a) {
                          return a.kind == PipelineArgument::Input;
                        });
  std::string summary;
  std::string sched = e.schedule(summary);
  std::string s = header + kPrelude;
  s += "  // The graph, one Func per tensor.\n" + e.defs;
  s += "\n  // Schedules.\n" + sched;
  s += "\n  Pipeline pipeline({" + outputs + "});\n";
  s += R"(  std::map<OutputFileType, std::string> files = {
      {OutputFileType::static_library, dir + "/sparq_pipeline.a"},
      {OutputFileType::c_header, dir + "/sparq_pipeline.h"},
      {OutputFileType::assembly, dir + "/sparq_pipeline.s"}};
  if (targets.size() == 1) {
    pipeline.compile_to(files, args, "sparq_pipeline", targets[0]);
    return 0;
  }
  std::vector<std::string> suffixes;
  for (size_t i = 0; i < targets.size(); ++i)
    suffixes.push_back("t" + std::to_string(i));
  compile_multitarget("sparq_pipeline", files, targets, suffixes,
                      [&](const std::string &name, const Target &t) {
                        return pipeline.compile_to_module(args, name, t);
                      });
  return 0;
}
)";
  pipeline.generator = std::move(s);
  pipeline.dotProducts = e.dotProducts;
  pipeline.scheduleSummary = std::move(summary);
  return true;
}
