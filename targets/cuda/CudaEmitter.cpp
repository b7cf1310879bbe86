//===- CudaEmitter.cpp - graph IR to a CUDA C++ source --------------------===//

#include "targets/cuda/CudaEmitter.h"
#include "targets/common/ScalarExpr.h"

#include "dialects/ConstantData.h"
#include "dialects/SparqDialect.h"
#include "passes/Weights.h"
#include "runtime/formats/BevPoolPlan.h"
#include "runtime/formats/Packed.h"
#include "runtime/io/WeightsFile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/TypeSwitch.h"

#include <sstream>

using namespace mlir;
using namespace ::sparq::emit;

namespace {

constexpr int64_t kThreads = 256;

/// An affine expression of the loop variables i0, i1, ...
std::string affineText(AffineExpr e) {
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return "i" + std::to_string(d.getPosition());
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return std::to_string(c.getValue()) + "LL";
  auto b = cast<AffineBinaryOpExpr>(e);
  std::string l = affineText(b.getLHS()), r = affineText(b.getRHS());
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return "(" + l + " + " + r + ")";
  case AffineExprKind::Mul:
    return "(" + l + " * " + r + ")";
  case AffineExprKind::FloorDiv:
    return "(" + l + " / " + r + ")"; // operands are non-negative here
  case AffineExprKind::Mod:
    return "(" + l + " % " + r + ")";
  default:
    return "";
  }
}

/// Row-major linear index of `indices` in `shape`.
std::string linearIndex(ArrayRef<std::string> indices,
                        ArrayRef<int64_t> shape) {
  if (indices.empty())
    return "0";
  std::string s = indices[0];
  for (size_t i = 1; i < indices.size(); ++i)
    s = "(" + s + ") * " + std::to_string(shape[i]) + "LL + " + indices[i];
  return s;
}

/// A convolution's sizes, as the package's sparq_rt::ConvShape.
struct ConvSizes {
  int64_t n, c, h, w, f, kh, kw, sh, sw, dh, dw, oh, ow;
};

struct Emitter {
  ::sparq::io::WeightsBlob &weights;
  std::string error;
  /// Each tensor's device pointer, as a C expression of its element type.
  DenseMap<Value, std::string> where;
  int64_t arena = 0;
  int kernelCount = 0;
  std::string kernels, run, convTable;
  int convCount = 0;
  bool usesBevPool = false;
  bool usesBitPack = false; // kernels read bit-packed codes (BitPack.h)
  /// Compressed weights, packed in the formats library's layout into the
  /// weights: where the blob starts and its header.
  struct Packed {
    uint64_t offset;
    ::sparq::formats::Header header;
  };
  DenseMap<Value, Packed> packed;

  explicit Emitter(::sparq::io::WeightsBlob &w) : weights(w) {}

  bool fail(Operation *op, const std::string &what) {
    std::string node = nodeOf(op);
    error = (node.empty() ? "" : "node '" + node + "': ") + what;
    return false;
  }

  std::string pointer(const std::string &base, int64_t offset, Type elem) {
    return "((" + cType(elem) + " *)(m->" + base + " + " +
           std::to_string(offset) + "))";
  }

  /// A new arena buffer for `v`.
  std::string allocate(Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    int64_t bytes = t.getNumElements() * elementBytes(t.getElementType());
    std::string p = pointer("arena", arena, t.getElementType());
    arena += (bytes + 255) / 256 * 256;
    where[v] = p;
    return p;
  }

  /// The buffer a destination-style op writes its result `r` into: a new
  /// one, holding `init`'s values first when the op reads them.
  bool destination(Operation *op, Value r, Value init, bool readsInit) {
    if (init.getDefiningOp<tensor::EmptyOp>() || !readsInit) {
      allocate(r);
      return true;
    }
    auto it = where.find(init);
    if (it == where.end())
      return fail(op, "its init tensor has no buffer");
    auto t = cast<RankedTensorType>(r.getType());
    std::string dst = allocate(r);
    run +=
        "  if (!sparq_rt::copy(m, " + dst + ", " + it->second + ", " +
        std::to_string(t.getNumElements() * elementBytes(t.getElementType())) +
        ")) return -1;\n";
    return true;
  }

  std::string operand(Value v) { return where.lookup(v); }

  bool emitFunc(func::FuncOp f, std::string &inputsCopy,
                std::string &outputsCopy) {
    int k = 0;
    for (BlockArgument a : f.getArguments()) {
      auto t = dyn_cast<RankedTensorType>(a.getType());
      if (!t || !t.hasStaticShape() || cType(t.getElementType()).empty()) {
        error = "input " + std::to_string(k) +
                " has no static shape of a supported element type";
        return false;
      }
      std::string p = allocate(a);
      inputsCopy += "  if (!sparq_rt::copy(m, " + p + ", inputs[" +
                    std::to_string(k++) + "], " +
                    std::to_string(t.getNumElements() *
                                   elementBytes(t.getElementType())) +
                    ")) return -1;\n";
    }
    for (Operation &op : f.getBody().front()) {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
          auto t = cast<RankedTensorType>(v.getType());
          outputsCopy += "  if (!sparq_rt::copy(m, outputs[" +
                         std::to_string(i) + "], " + operand(v) + ", " +
                         std::to_string(t.getNumElements() *
                                        elementBytes(t.getElementType())) +
                         ")) return -1;\n";
        }
        continue;
      }
      if (!emitOp(&op))
        return false;
    }
    return true;
  }

  bool emitOp(Operation *op) {
    for (Type t : op->getResultTypes())
      if (auto rt = dyn_cast<RankedTensorType>(t);
          rt && (!rt.hasStaticShape() || cType(rt.getElementType()).empty()))
        return fail(op, "the cuda target needs static shapes of f32, f64 or "
                        "integer elements, got " +
                            std::string(op->getName().getStringRef()));
    return llvm::TypeSwitch<Operation *, bool>(op)
        .Case([&](arith::ConstantOp c) { return emitConstant(c); })
        .Case([&](tensor::EmptyOp e) {
          allocate(e.getResult());
          return true;
        })
        .Case<tensor::ExpandShapeOp, tensor::CollapseShapeOp>([&](auto r) {
          where[r.getResult()] = std::string(where.lookup(r.getSrc()));
          return true;
        })
        .Case([&](linalg::FillOp f) { return emitFill(f); })
        .Case([&](linalg::GenericOp g) { return emitGeneric(g); })
        .Case([&](linalg::TransposeOp t) { return emitTranspose(t); })
        .Case([&](tensor::ExtractSliceOp s) { return emitExtractSlice(s); })
        .Case([&](tensor::InsertSliceOp s) { return emitInsertSlice(s); })
        .Case([&](tensor::PadOp p) { return emitPad(p); })
        .Case<linalg::MatmulOp, linalg::MatmulTransposeBOp,
              linalg::BatchMatmulOp>([&](auto m) { return emitGemm(m); })
        .Case<linalg::Conv2DNchwFchwOp, linalg::DepthwiseConv2DNchwChwOp,
              linalg::Conv2DNgchwGfchwOp>([&](auto c) { return emitConv(c); })
        .Case([&](mlir::sparq::BevPoolOp b) { return emitBevPool(b); })
        .Case([&](mlir::sparq::CorrelationOp c) { return emitCorrelation(c); })
        .Case([&](mlir::sparq::LstmOp l) { return emitLstm(l); })
        .Default([&](Operation *o) {
          if (o->getNumResults() == 0 || isOpTriviallyDead(o))
            return true;
          return fail(o, "op '" + o->getName().getStringRef().str() +
                             "' is not supported by the cuda target yet");
        });
  }

  bool emitConstant(arith::ConstantOp c) {
    auto type = dyn_cast<RankedTensorType>(c.getType());
    if (!type)
      return true; // scalars are folded into the code that uses them
    if (auto enc =
            dyn_cast_or_null<mlir::sparq::EncodingAttr>(type.getEncoding())) {
      // An encoding whose storage is plain f32 (a pattern too dense to
      // store sparse) is an ordinary constant.
      ::sparq::formats::Layout l = mlir::sparq::toLayout(enc, type.getShape());
      if (l.format != ::sparq::formats::Format::Dense ||
          l.quant != ::sparq::formats::Quant::None)
        return emitPackedConstant(c);
    } else if (type.getEncoding()) {
      return fail(c, "a tensor encoding that is not sparq's");
    }
    Type elem = type.getElementType();
    int64_t bytes = elementBytes(elem), n = type.getNumElements();
    uint64_t offset;
    if (elem.isInteger(1)) {
      auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
      if (!dense)
        return fail(c, "a bool constant that is not dense");
      std::vector<uint8_t> v;
      for (bool b : dense.getValues<bool>())
        v.push_back(b);
      if (dense.isSplat())
        v.assign(n, v.front());
      offset = weights.append(v.data(), v.size());
    } else {
      std::optional<ArrayRef<char>> data =
          mlir::sparq::constantBytes(c.getValue());
      if (!data)
        return fail(c, "a constant whose bytes cannot be read");
      if (mlir::sparq::isSplatConstant(c.getValue()))
        offset = weights.append(data->data(), size_t(bytes * n), size_t(n));
      else
        offset = weights.append(data->data(), data->size());
    }
    where[c.getResult()] = pointer("weights", int64_t(offset), elem);
    return true;
  }

  /// A compressed weight: packed by the formats library, as the host packs
  /// it, and read in place by a generated kernel. Only the products the
  /// target has kernels for take one.
  bool emitPackedConstant(arith::ConstantOp c) {
    auto type = cast<RankedTensorType>(c.getType());
    auto enc = dyn_cast<mlir::sparq::EncodingAttr>(type.getEncoding());
    for (OpOperand &use : c->getUses()) {
      unsigned n = use.getOperandNumber();
      bool product = isa<linalg::MatmulTransposeBOp, linalg::Conv2DNchwFchwOp>(
                         use.getOwner()) &&
                     n == 1;
      bool lstm =
          isa<mlir::sparq::LstmOp>(use.getOwner()) && (n == 1 || n == 2);
      if (!product && !lstm)
        return fail(use.getOwner(),
                    "compressed weights are supported by the cuda target "
                    "only as the weight of a MatMul/Gemm, a plain "
                    "convolution or an LSTM yet");
    }
    if (!enc)
      return fail(c, "a tensor encoding that is not sparq's");
    ::sparq::formats::Layout layout =
        mlir::sparq::toLayout(enc, type.getShape());
    using ::sparq::formats::Format;
    using ::sparq::formats::Quant;
    bool csr =
        (layout.format == Format::CSR || layout.format == Format::BCSR) &&
        layout.quant == Quant::None;
    // int8 rows (a convolution's per-channel int8): one byte per code.
    bool bytes = layout.format == Format::Dense && layout.quant == Quant::Int &&
                 layout.bits == 8 && !::sparq::formats::codesPerWord(layout);
    bool tiled =
        layout.format == Format::Dense &&
        ::sparq::formats::codesPerWord(layout) &&
        (layout.quant == Quant::Ternary || layout.quant == Quant::Codebook ||
         (layout.quant == Quant::Int && layout.bits == 4 &&
          (layout.group
               ? layout.group
               : mlir::sparq::weightMatrixShape(type.getShape()).second) %
                  8 ==
              0));
    bool nm = layout.format == Format::NM && layout.quant == Quant::None;
    bool codebook =
        layout.format == Format::Dense && layout.quant == Quant::Codebook;
    if (!tiled && !csr && !bytes && !nm && !codebook)
      return fail(*c->getUsers().begin(),
                  "weight format " + ::sparq::formats::describe(layout) +
                      " is not supported by the cuda target yet (ternary, "
                      "int4 groups, int8 rows, codebooks, f32 CSR, BCSR and "
                      "N:M are)");
    std::string why;
    std::vector<uint8_t> blob = mlir::sparq::packConstant(c, layout, why);
    if (blob.empty())
      return fail(c, why);
    Packed p;
    p.offset = weights.append(blob.data(), blob.size());
    p.header = ::sparq::formats::PackedView(blob.data(), blob.size()).header();
    packed[c.getResult()] = p;
    return true;
  }

  /// y += x W^T with W [N, K] packed, one thread per output, W's row
  /// decoded in registers as it is read. A GEMM: y[M, N], x[M, K]. A
  /// convolution (`conv`): y[b, f, oy, ox] with f the row, the input read
  /// through the im2col index of column k (channel, ky, kx).
  bool emitPackedProduct(Operation *op, const Packed &w,
                         const ConvSizes *conv) {
    auto dps = cast<DestinationStyleOpInterface>(op);
    Value x = dps.getDpsInputOperand(0)->get(), r = op->getResult(0);
    auto ct = cast<RankedTensorType>(r.getType());
    if (!destination(op, r, dps.getDpsInitOperand(0)->get(), true))
      return false;
    int64_t outputs = ct.getNumElements();
    std::string name = packedProductKernel(op, w, conv, w.header.rows, outputs);
    launch(name, outputs,
           {operand(x),
            "(const unsigned char *)(m->weights + " + std::to_string(w.offset) +
                ")",
            operand(r), "0LL"},
           op);
    return true;
  }

  /// The kernel of emitPackedProduct, its name returned: `outputs` threads
  /// compute y[m, n] += x[m] . W[rowBase + n] for n < `rows` (a block of
  /// W's rows: one direction of a recurrent layer's stacked weights);
  /// parameters (x, blob, y, rowBase).
  std::string packedProductKernel(Operation *op, const Packed &w,
                                  const ConvSizes *conv, int64_t rows,
                                  int64_t outputs) {
    namespace fmt = ::sparq::formats;
    const fmt::Header &h = w.header;
    const fmt::Layout &l = h.layout;
    int64_t N = h.rows, K = h.cols;
    auto num = [](int64_t v) { return std::to_string(v) + "LL"; };
    auto section = [&](fmt::Section s, const std::string &type) {
      return "(const " + type + " *)(blob + " + std::to_string(h.offset[s]) +
             ")";
    };
    auto f32 = [&](float v) {
      Type t = Float32Type::get(op->getContext());
      return literal(FloatAttr::get(t, v), t);
    };
    std::string name;
    std::string what =
        std::string(conv ? "packed convolution, " : "packed GEMM, ") +
        fmt::describe(l) + " weight " + std::to_string(N) + "x" +
        std::to_string(K);
    std::string k = openKernel(op, what,
                               {"const float *__restrict__ x",
                                "const unsigned char *__restrict__ blob",
                                "float *__restrict__ y", "long long rowBase"},
                               outputs, name);
    if (!conv) {
      k += "  const long long n = t % " + num(rows) + " + rowBase, m = t / " +
           num(rows) + ";\n  const float *xm = x + m * " + num(K) + ";\n";
      k += "#define SPARQ_X(col) xm[col]\n";
    } else {
      const ConvSizes &c = *conv;
      int64_t taps = c.kh * c.kw;
      k += "  const long long ox = t % " + num(c.ow) + ", oy = (t / " +
           num(c.ow) + ") % " + num(c.oh) + ", n = (t / " + num(c.ow * c.oh) +
           ") % " + num(N) + ", b = t / " + num(c.ow * c.oh * N) + ";\n";
      // Column k of W's row is (channel, ky, kx) of the window at (oy, ox).
      k += "  const float *xb = x + b * " + num(c.c * c.h * c.w) + " + oy * " +
           num(c.sh * c.w) + " + ox * " + num(c.sw) + ";\n";
      k += "#define SPARQ_X(col) xb[((col) / " + num(taps) + ") * " +
           num(c.h * c.w) + " + (((col) / " + num(c.kw) + ") % " + num(c.kh) +
           ") * " + num(c.dh * c.w) + " + ((col) % " + num(c.kw) + ") * " +
           num(c.dw) + "]\n";
    }
    if (l.format == fmt::Format::BCSR) {
      int64_t br = l.blockRows, bc = l.blockCols;
      std::string idx = K / bc <= 65536 ? "unsigned short" : "unsigned int";
      k +=
          "  const unsigned int *ptr = " + section(fmt::Ptr, "unsigned int") +
          ";\n  const " + idx + " *col = " + section(fmt::Index, idx) +
          ";\n  const float *val = " + section(fmt::Values, "float") +
          ";\n  const long long blockRow = n / " + num(br) + ", i = n % " +
          num(br) +
          ";\n  float acc = 0.0f;\n"
          "  for (unsigned int e = ptr[blockRow]; e < ptr[blockRow + 1]; ++e)\n"
          "    for (long long j = 0; j < " +
          num(bc) +
          "; ++j)\n"
          "      acc += val[(long long)e * " +
          num(br * bc) + " + i * " + num(bc) + " + j] * SPARQ_X(col[e] * " +
          num(bc) + " + j);\n";
    } else if (l.format == fmt::Format::Dense && l.quant == fmt::Quant::Int &&
               !fmt::codesPerWord(l)) {
      int64_t g = l.group ? l.group : K, groups = K / g;
      k += "  const unsigned char *codes = " +
           section(fmt::Values, "unsigned char") + " + n * " +
           num(int64_t(fmt::denseRowBytes(l, K))) +
           ";\n  const float *scale = " + section(fmt::Scales, "float") + ";\n";
      if (l.zeroPoints)
        k += "  const unsigned char *zero = " +
             section(fmt::Zeros, "unsigned char") + ";\n";
      k += "  float acc = 0.0f;\n  for (long long gi = 0; gi < " + num(groups) +
           "; ++gi) {\n    const long long at = n * " + num(groups) +
           " + gi;\n    const float z = " +
           (l.zeroPoints ? std::string("(float)zero[at]")
                         : std::to_string(1u << (l.bits - 1)) + ".0f") +
           ";\n    float sum = 0.0f;\n    for (long long i = gi * " + num(g) +
           "; i < (gi + 1) * " + num(g) +
           "; ++i)\n"
           "      sum += ((float)codes[i] - z) * SPARQ_X(i);\n"
           "    acc += sum * scale[at];\n  }\n";
    } else if (l.format == fmt::Format::NM) {
      // Row n's groups of M columns each keep N slots: a value and its
      // position in the group, ceil(log2 M) bits (formats' BitPack.h).
      usesBitPack = true;
      int64_t groups = K / l.m;
      unsigned ib = fmt::nmIndexBits(l.m);
      k += "  const unsigned char *pos = " +
           section(fmt::Index, "unsigned char") +
           ";\n  const float *val = " + section(fmt::Values, "float") +
           ";\n  float acc = 0.0f;\n  for (long long g = 0; g < " +
           num(groups) + "; ++g)\n    for (long long s = 0; s < " + num(l.n) +
           "; ++s) {\n      const long long e = (n * " + num(groups) +
           " + g) * " + num(l.n) + " + s;\n      acc += val[e] * SPARQ_X(g * " +
           num(l.m) +
           " + sparq::formats::readBits(pos, (unsigned long long)e * " +
           std::to_string(ib) + "ULL, " + std::to_string(ib) + "));\n    }\n";
    } else if (l.quant == fmt::Quant::Codebook && !fmt::codesPerWord(l)) {
      usesBitPack = true;
      k += "  const unsigned char *row = " +
           section(fmt::Values, "unsigned char") + " + n * " +
           num(int64_t(fmt::denseRowBytes(l, K))) +
           ";\n  const float *table = " + section(fmt::Table, "float") +
           ";\n  float acc = 0.0f;\n  for (long long i = 0; i < " + num(K) +
           "; ++i)\n    acc += table[sparq::formats::readBits(row, "
           "(unsigned long long)i * " +
           std::to_string(l.bits) + "ULL, " + std::to_string(l.bits) +
           ")] * SPARQ_X(i);\n";
    } else if (l.format == fmt::Format::CSR) {
      std::string idx = K <= 65536 ? "unsigned short" : "unsigned int";
      k += "  const unsigned int *ptr = " + section(fmt::Ptr, "unsigned int") +
           ";\n  const " + idx + " *col = " + section(fmt::Index, idx) +
           ";\n  const float *val = " + section(fmt::Values, "float") +
           ";\n  float acc = 0.0f;\n"
           "  for (unsigned int e = ptr[n]; e < ptr[n + 1]; ++e)\n"
           "    acc += val[e] * SPARQ_X(col[e]);\n";
    } else {
      int64_t perWord = fmt::codesPerWord(l);
      int64_t words = (K + perWord - 1) / perWord, tile = fmt::kTileRows;
      // Row n's word w is at tiledWordIndex(N, words, n, w): consecutive
      // threads (rows) read consecutive words.
      k += "  const long long t0 = n - n % " + num(tile) +
           ";\n  const long long tileRows = " + num(N) + " - t0 < " +
           num(tile) + " ? " + num(N) + " - t0 : " + num(tile) +
           ";\n  const unsigned int *word = " +
           section(fmt::Values, "unsigned int") + " + t0 * " + num(words) +
           " + (n - t0);\n";
      if (l.quant == fmt::Quant::Ternary) {
        // The inputs under +Wp codes and under -Wn codes summed apart,
        // scaled once: the 2-bit codes never leave registers.
        k += "  float plus = 0.0f, minus = 0.0f;\n"
             "  for (long long w = 0; w < " +
             num(words) +
             "; ++w) {\n"
             "    const unsigned int codes = word[w * tileRows];\n"
             "    for (int j = 0; j < 16 && w * 16 + j < " +
             num(K) +
             "; ++j) {\n"
             "      const unsigned int c = (codes >> (2 * j)) & 3u;\n"
             "      const float v = SPARQ_X(w * 16 + j);\n"
             "      plus += c == 1u ? v : 0.0f;\n"
             "      minus += c == 2u ? v : 0.0f;\n"
             "    }\n  }\n";
        if (l.perChannel)
          k += "  const float *scale = " + section(fmt::Scales, "float") +
               ";\n  const float acc = plus * scale[2 * n] - minus * "
               "scale[2 * n + 1];\n";
        else
          k += "  const float acc = plus * " + f32(h.wp) + " - minus * " +
               f32(h.wn) + ";\n";
      } else if (l.quant == fmt::Quant::Codebook) { // 4-bit codes, a table
        k += "  const float *table = " + section(fmt::Table, "float") +
             ";\n  float acc = 0.0f;\n  for (long long w = 0; w < " +
             num(words) +
             "; ++w) {\n    const unsigned int codes = word[w * tileRows];\n"
             "    for (int j = 0; j < 8 && w * 8 + j < " +
             num(K) +
             "; ++j)\n      acc += table[(codes >> (4 * j)) & 15u] * "
             "SPARQ_X(w * 8 + j);\n  }\n";
      } else { // int4: (code - zero) * scale per group, scales group-major
        int64_t g = l.group ? l.group : K, groups = K / g;
        k += "  const float *scale = " + section(fmt::Scales, "float") + ";\n";
        if (l.zeroPoints)
          k += "  const unsigned char *zero = " +
               section(fmt::Zeros, "unsigned char") + ";\n";
        k += "  float acc = 0.0f;\n  for (long long gi = 0; gi < " +
             num(groups) + "; ++gi) {\n    const long long at = gi * " +
             num(N) + " + n;\n    const float z = " +
             (l.zeroPoints ? std::string("(float)zero[at]")
                           : std::to_string(1u << (l.bits - 1)) + ".0f") +
             ";\n    float sum = 0.0f;\n    for (long long w = gi * " +
             num(g / perWord) + "; w < (gi + 1) * " + num(g / perWord) +
             "; ++w) {\n"
             "      const unsigned int codes = word[w * tileRows];\n"
             "      for (int j = 0; j < 8; ++j)\n"
             "        sum += ((float)((codes >> (4 * j)) & 15u) - z) * "
             "SPARQ_X(w * 8 + j);\n"
             "    }\n    acc += sum * scale[at];\n  }\n";
      }
    }
    k += "  y[t] += acc;\n}\n#undef SPARQ_X\n\n";
    kernels += k;
    return name;
  }

  /// sparq.lstm as cuBLAS GEMMs and one generated gate kernel: the input
  /// projection of every step at once, then per step (a loop in run(), the
  /// sequence length being static) the recurrent GEMM and the gates, cell
  /// and hidden state of every (batch, unit) in one launch. ONNX's gate
  /// order (i, o, f, c), peepholes (i, o, f), sigmoid and tanh, `clip` on
  /// the pre-activations; a bidirectional layer runs its two directions one
  /// after the other.
  bool emitLstm(mlir::sparq::LstmOp op) {
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    int64_t T = xt.getDimSize(0), B = xt.getDimSize(1), I = xt.getDimSize(2);
    int64_t H = op.getHiddenSize(), D = op.getNumDirections();
    auto num = [](int64_t v) { return std::to_string(v) + "LL"; };
    FloatAttr clipAttr = op.getClipAttr();
    std::string clip =
        clipAttr ? literal(clipAttr, clipAttr.getType()) : "0.0f";
    std::string name;
    std::string k = openKernel(
        op, "LSTM gates, " + std::to_string(B) + " x " + std::to_string(H),
        {"const float *__restrict__ gx", "const float *__restrict__ gh",
         "const float *__restrict__ bias", "const float *__restrict__ peep",
         "float *__restrict__ h", "float *__restrict__ c",
         "float *__restrict__ y"},
        B * H, name);
    auto pre = [&](int gate) {
      std::string g = std::to_string(gate);
      std::string s = "gx[b * " + num(4 * H) + " + " + g + " * " + num(H) +
                      " + j] + gh[b * " + num(4 * H) + " + " + g + " * " +
                      num(H) + " + j] + bias[" + g + " * " + num(H) +
                      " + j] + bias[" + std::to_string(4 + gate) + " * " +
                      num(H) + " + j]";
      return s;
    };
    std::string clipFn =
        clipAttr ? "fminf(fmaxf(v, -" + clip + "), " + clip + ")" : "v";
    k += "  const long long b = t / " + num(H) + ", j = t % " + num(H) +
         ";\n"
         "  auto cl = [](float v) { return " +
         clipFn +
         "; };\n"
         "  auto sig = [](float v) { return 1.0f / (1.0f + expf(-v)); };\n"
         "  const float cPrev = c[t];\n"
         "  const float i = sig(cl(" +
         pre(0) + " + peep[j] * cPrev));\n  const float f = sig(cl(" + pre(2) +
         " + peep[" + num(2 * H) +
         " + j] * cPrev));\n  const float g = tanhf(cl(" + pre(3) +
         "));\n  const float cNew = f * cPrev + i * g;\n  const float o = "
         "sig(cl(" +
         pre(1) + " + peep[" + num(H) +
         " + j] * cNew));\n  const float hNew = o * tanhf(cNew);\n"
         "  c[t] = cNew;\n  h[t] = hNew;\n  y[t] = hNew;\n}\n\n";
    kernels += k;
    std::string y = allocate(op.getY()), yh = allocate(op.getYH()),
                yc = allocate(op.getYC());
    // Scratch: the input projection of all steps, one step's recurrent
    // part. (Buffers of their own: the arena has no liveness yet.)
    auto scratch = [&](int64_t floats) {
      std::string p =
          pointer("arena", arena, Float32Type::get(op.getContext()));
      arena += (floats * 4 + 255) / 256 * 256;
      return p;
    };
    std::string gx = scratch(T * B * 4 * H), gh = scratch(B * 4 * H);
    // out[rows, 4H] += in[rows, cols] . direction d's block of `weight`,
    // a statement of run() at `indent`: cuBLAS on a dense weight, the
    // packed-product kernel (reading the stacked blob from row d*4H) on a
    // compressed one.
    DenseMap<Value, std::string> packedKernels;
    auto project = [&](Value weight, int64_t rows, int64_t cols,
                       const std::string &in, int64_t d, const std::string &out,
                       const std::string &indent) {
      auto it = packed.find(weight);
      if (it == packed.end())
        return indent + "if (!sparq_rt::gemm(m, false, true, " +
               std::to_string(rows) + ", " + std::to_string(4 * H) + ", " +
               std::to_string(cols) + ", " + in + ", " + operand(weight) +
               " + " + num(d * 4 * H * cols) + ", " + out +
               ", 1, 0LL, 0LL, 0LL))\n" + indent + "  return -1;\n";
      int64_t outputs = rows * 4 * H;
      // One kernel per weight: the direction is its rowBase argument.
      std::string &kernel = packedKernels[weight];
      if (kernel.empty())
        kernel = packedProductKernel(op, it->second, nullptr, 4 * H, outputs);
      return indent + "SPARQ_LAUNCH(" + kernel + ", " +
             std::to_string((outputs + kThreads - 1) / kThreads) + ", " +
             std::to_string(kThreads) + ", m->stream, " + in +
             ", (const unsigned char *)(m->weights + " +
             std::to_string(it->second.offset) + "), " + out + ", " +
             num(d * 4 * H) + ");\n";
    };
    std::string x = operand(op.getInput()), bias = operand(op.getBias()),
                h0 = operand(op.getInitialH()), c0 = operand(op.getInitialC()),
                peep = operand(op.getPeepholes());
    bool reverseOnly = op.getDirection() == mlir::sparq::RnnDirection::Reverse;
    int64_t blocks = (B * H + kThreads - 1) / kThreads;
    run += "  // sparq.lstm '" + nodeOf(op) + "': " + std::to_string(T) +
           " steps, batch " + std::to_string(B) + ", " + std::to_string(I) +
           " -> " + std::to_string(H) + ", " + std::to_string(D) +
           " direction(s)\n";
    for (int64_t d = 0; d < D; ++d) {
      bool reverse = reverseOnly || d == 1;
      std::string sd = std::to_string(d);
      std::string hd = yh + " + " + num(d * B * H),
                  cd = yc + " + " + num(d * B * H);
      run += "  if (!sparq_rt::copy(m, " + hd + ", " + h0 + " + " +
             num(d * B * H) + ", " + std::to_string(B * H * 4) +
             ") ||\n      !sparq_rt::copy(m, " + cd + ", " + c0 + " + " +
             num(d * B * H) + ", " + std::to_string(B * H * 4) +
             ") ||\n      !sparq_rt::zero(m, " + gx + ", " +
             std::to_string(T * B * 4 * H * 4) + "))\n    return -1;\n" +
             project(op.getW(), T * B, I, x, d, gx, "  ");
      run += "  for (long long s = 0; s < " + num(T) +
             "; ++s) {\n"
             "    const long long step = " +
             (reverse ? num(T - 1) + " - s" : std::string("s")) +
             ";\n"
             "    if (!sparq_rt::zero(m, " +
             gh + ", " + std::to_string(B * 4 * H * 4) +
             "))\n      return -1;\n" +
             project(op.getR(), B, H, hd, d, gh, "    ") + "    SPARQ_LAUNCH(" +
             name + ", " + std::to_string(blocks) + ", " +
             std::to_string(kThreads) + ", m->stream, " + gx + " + step * " +
             num(B * 4 * H) + ", " + gh + ", " + bias + " + " + num(d * 8 * H) +
             ", " + peep + " + " + num(d * 3 * H) + ", " + hd + ", " + cd +
             ", " + y + " + (step * " + num(D) + " + " + sd + ") * " +
             num(B * H) + ");\n  }\n";
    }
    return true;
  }

  /// Opens a kernel named after `op`: its parameters are `params`
  /// ("const float *in0", ...); its body decodes `total` threads.
  std::string openKernel(Operation *op, const std::string &what,
                         ArrayRef<std::string> params, int64_t total,
                         std::string &name) {
    name = "k" + std::to_string(kernelCount++);
    std::string node = identifier(nodeOf(op));
    if (!node.empty())
      name += "_" + node;
    std::string s = "// " + what + " (node '" + nodeOf(op) + "')\n";
    s += "__global__ void " + name + "(";
    for (size_t i = 0; i < params.size(); ++i)
      s += (i ? ", " : "") + params[i];
    s += ") {\n  long long t = (long long)blockIdx.x * blockDim.x + "
         "threadIdx.x;\n  if (t >= " +
         std::to_string(total) + "LL) return;\n";
    return s;
  }

  void launch(const std::string &name, int64_t total,
              ArrayRef<std::string> args, Operation *op) {
    int64_t blocks = std::max<int64_t>(1, (total + kThreads - 1) / kThreads);
    run += "  // " + std::string(op->getName().getStringRef()) + " '" +
           nodeOf(op) + "'\n  SPARQ_LAUNCH(" + name + ", " +
           std::to_string(blocks) + ", " + std::to_string(kThreads) +
           ", m->stream";
    for (const std::string &a : args)
      run += ", " + a;
    run += ");\n";
  }

  /// Decodes thread t into loop variables `dims` of `sizes` (row-major).
  static std::string decode(ArrayRef<int64_t> dims, ArrayRef<int64_t> sizes) {
    std::string s = "  long long r = t;\n";
    for (int64_t i = int64_t(dims.size()) - 1; i >= 0; --i) {
      std::string v = "i" + std::to_string(dims[i]);
      if (i == 0)
        s += "  long long " + v + " = r;\n";
      else
        s += "  long long " + v + " = r % " + std::to_string(sizes[i]) +
             "LL; r /= " + std::to_string(sizes[i]) + "LL;\n";
    }
    s += "  (void)r;\n";
    return s;
  }

  bool emitFill(linalg::FillOp f) {
    Value r = f.getResult(0);
    allocate(r);
    auto t = cast<RankedTensorType>(r.getType());
    auto cst = f.getInputs()[0].getDefiningOp<arith::ConstantOp>();
    if (!cst)
      return fail(f, "a fill with a value that is not a constant");
    std::string v = literal(cst.getValue(), t.getElementType()), name;
    std::string ty = cType(t.getElementType());
    std::string k =
        openKernel(f, "fill " + shapeText(t.getShape()),
                   {ty + " *__restrict__ out"}, t.getNumElements(), name);
    k += "  out[t] = " + v + ";\n}\n\n";
    kernels += k;
    launch(name, t.getNumElements(), {operand(r)}, f);
    return true;
  }

  bool emitTranspose(linalg::TransposeOp op) {
    Value r = op->getResult(0);
    auto out = cast<RankedTensorType>(r.getType());
    auto in = cast<RankedTensorType>(op.getInput().getType());
    allocate(r);
    ArrayRef<int64_t> perm = op.getPermutation();
    SmallVector<int64_t> dims;
    for (int64_t i = 0; i < out.getRank(); ++i)
      dims.push_back(i);
    std::string ty = cType(out.getElementType()), name;
    std::string k = openKernel(
        op,
        "transpose " + shapeText(in.getShape()) + " -> " +
            shapeText(out.getShape()),
        {"const " + ty + " *__restrict__ in", ty + " *__restrict__ out"},
        out.getNumElements(), name);
    k += decode(dims, out.getShape());
    SmallVector<std::string> src(in.getRank());
    for (size_t i = 0; i < perm.size(); ++i)
      src[perm[i]] = "i" + std::to_string(i);
    k += "  out[t] = in[" + linearIndex(src, in.getShape()) + "];\n}\n\n";
    kernels += k;
    launch(name, out.getNumElements(), {operand(op.getInput()), operand(r)},
           op);
    return true;
  }

  /// A copy kernel: out[i...] = in[src(i...)] over out's shape.
  void copyKernel(Operation *op, const std::string &what, Value in,
                  const std::string &inPtr, const std::string &outPtr,
                  ArrayRef<int64_t> shape, ArrayRef<std::string> srcIndex,
                  const std::string &dstIndex, const std::string &guard = "",
                  const std::string &otherwise = "") {
    auto inType = cast<RankedTensorType>(in.getType());
    std::string ty = cType(inType.getElementType()), name;
    int64_t total = 1;
    for (int64_t d : shape)
      total *= d;
    SmallVector<int64_t> dims;
    for (size_t i = 0; i < shape.size(); ++i)
      dims.push_back(i);
    std::string k = openKernel(
        op, what,
        {"const " + ty + " *__restrict__ in", ty + " *__restrict__ out"}, total,
        name);
    k += decode(dims, shape);
    std::string read = "in[" + linearIndex(srcIndex, inType.getShape()) + "]";
    if (!guard.empty())
      read = "(" + guard + ") ? " + read + " : " + otherwise;
    k += "  out[" + dstIndex + "] = " + read + ";\n}\n\n";
    kernels += k;
    launch(name, total, {inPtr, outPtr}, op);
  }

  bool emitExtractSlice(tensor::ExtractSliceOp s) {
    if (s.getSourceType().getRank() != s.getType().getRank() ||
        ShapedType::isDynamicShape(s.getStaticOffsets()) ||
        ShapedType::isDynamicShape(s.getStaticStrides()))
      return fail(s, "a rank-reducing or dynamic slice");
    Value r = s.getResult();
    allocate(r);
    SmallVector<std::string> src;
    for (int64_t i = 0; i < s.getType().getRank(); ++i)
      src.push_back(std::to_string(s.getStaticOffsets()[i]) + "LL + i" +
                    std::to_string(i) + " * " +
                    std::to_string(s.getStaticStrides()[i]) + "LL");
    copyKernel(s, "slice " + shapeText(s.getType().getShape()), s.getSource(),
               operand(s.getSource()), operand(r), s.getType().getShape(), src,
               "t");
    return true;
  }

  bool emitInsertSlice(tensor::InsertSliceOp s) {
    if (s.getSourceType().getRank() != s.getType().getRank() ||
        ShapedType::isDynamicShape(s.getStaticOffsets()) ||
        ShapedType::isDynamicShape(s.getStaticStrides()))
      return fail(s, "a rank-reducing or dynamic slice");
    if (!destination(s, s.getResult(), s.getDest(), /*readsInit=*/true))
      return false;
    auto src = cast<RankedTensorType>(s.getSource().getType());
    SmallVector<std::string> srcIdx, dst;
    for (int64_t i = 0; i < src.getRank(); ++i) {
      srcIdx.push_back("i" + std::to_string(i));
      dst.push_back(std::to_string(s.getStaticOffsets()[i]) + "LL + i" +
                    std::to_string(i) + " * " +
                    std::to_string(s.getStaticStrides()[i]) + "LL");
    }
    copyKernel(s, "insert " + shapeText(src.getShape()), s.getSource(),
               operand(s.getSource()), operand(s.getResult()), src.getShape(),
               srcIdx, linearIndex(dst, s.getType().getShape()));
    return true;
  }

  bool emitPad(tensor::PadOp p) {
    auto yield = cast<tensor::YieldOp>(p.getRegion().front().getTerminator());
    auto cst = yield.getValue().getDefiningOp<arith::ConstantOp>();
    if (!cst || ShapedType::isDynamicShape(p.getStaticLow()))
      return fail(p, "a pad by a value that is not a constant");
    Value r = p.getResult();
    allocate(r);
    auto in = p.getSourceType();
    SmallVector<std::string> src;
    std::string guard;
    for (int64_t i = 0; i < in.getRank(); ++i) {
      std::string v = "(i" + std::to_string(i) + " - " +
                      std::to_string(p.getStaticLow()[i]) + "LL)";
      src.push_back(v);
      guard += std::string(guard.empty() ? "" : " && ") + v + " >= 0 && " + v +
               " < " + std::to_string(in.getDimSize(i)) + "LL";
    }
    copyKernel(p,
               "pad " + shapeText(in.getShape()) + " -> " +
                   shapeText(p.getResultType().getShape()),
               p.getSource(), operand(p.getSource()), operand(r),
               p.getResultType().getShape(), src, "t", guard,
               literal(cst.getValue(), in.getElementType()));
    return true;
  }

  template <typename OpT> bool emitGemm(OpT op) {
    Value a = op.getDpsInputOperand(0)->get(),
          b = op.getDpsInputOperand(1)->get();
    if constexpr (std::is_same_v<OpT, linalg::MatmulTransposeBOp>)
      if (auto it = packed.find(b); it != packed.end())
        return emitPackedProduct(op, it->second, nullptr);
    Value init = op.getDpsInitOperand(0)->get(), r = op->getResult(0);
    auto at = cast<RankedTensorType>(a.getType()),
         bt = cast<RankedTensorType>(b.getType()),
         ct = cast<RankedTensorType>(r.getType());
    if (!at.getElementType().isF32() || !bt.getElementType().isF32() ||
        !ct.getElementType().isF32())
      return fail(op, "a GEMM that is not f32");
    if (!destination(op, r, init, /*readsInit=*/true))
      return false;
    bool batched = isa<linalg::BatchMatmulOp>(op);
    bool transB = isa<linalg::MatmulTransposeBOp>(op);
    int64_t batch = batched ? ct.getDimSize(0) : 1;
    int64_t M = ct.getDimSize(batched), N = ct.getDimSize(batched + 1),
            K = at.getDimSize(batched + 1);
    run += "  // " + std::string(op->getName().getStringRef()) + " '" +
           nodeOf(op) + "': [" + std::to_string(M) + "x" + std::to_string(K) +
           "] x [" + std::to_string(K) + "x" + std::to_string(N) + "]" +
           (batched ? " x " + std::to_string(batch) : std::string()) + "\n";
    run += "  if (!sparq_rt::gemm(m, false, " +
           std::string(transB ? "true" : "false") + ", " + std::to_string(M) +
           ", " + std::to_string(N) + ", " + std::to_string(K) + ", " +
           operand(a) + ", " + operand(b) + ", " + operand(r) + ", " +
           std::to_string(batch) + ", " + std::to_string(M * K) + "LL, " +
           std::to_string(K * N) + "LL, " + std::to_string(M * N) +
           "LL)) return -1;\n";
    return true;
  }

  template <typename OpT> bool emitConv(OpT op) {
    Value x = op.getDpsInputOperand(0)->get(),
          w = op.getDpsInputOperand(1)->get();
    Value init = op.getDpsInitOperand(0)->get(), r = op->getResult(0);
    auto xt = cast<RankedTensorType>(x.getType()),
         wt = cast<RankedTensorType>(w.getType()),
         yt = cast<RankedTensorType>(r.getType());
    if (!xt.getElementType().isF32() || !wt.getElementType().isF32())
      return fail(op, "a convolution that is not f32");
    SmallVector<int64_t> strides(op.getStrides().template getValues<int64_t>());
    SmallVector<int64_t> dilations(
        op.getDilations().template getValues<int64_t>());
    // n, c, h, w, f, kh, kw, groups, oh, ow of each form.
    int64_t n = xt.getDimSize(0), c, h, wd, f, kh, kw, groups, oh, ow;
    if (isa<linalg::Conv2DNgchwGfchwOp>(op)) {
      groups = xt.getDimSize(1);
      c = groups * xt.getDimSize(2);
      h = xt.getDimSize(3);
      wd = xt.getDimSize(4);
      f = groups * wt.getDimSize(1);
      kh = wt.getDimSize(3);
      kw = wt.getDimSize(4);
      oh = yt.getDimSize(3);
      ow = yt.getDimSize(4);
    } else {
      c = xt.getDimSize(1);
      h = xt.getDimSize(2);
      wd = xt.getDimSize(3);
      bool depthwise = isa<linalg::DepthwiseConv2DNchwChwOp>(op);
      groups = depthwise ? c : 1;
      f = depthwise ? c : wt.getDimSize(0);
      kh = wt.getDimSize(depthwise ? 1 : 2);
      kw = wt.getDimSize(depthwise ? 2 : 3);
      oh = yt.getDimSize(2);
      ow = yt.getDimSize(3);
    }
    if (auto it = packed.find(w); it != packed.end()) {
      if (groups != 1)
        return fail(op, "compressed weights of a grouped convolution are not "
                        "supported by the cuda target yet");
      ConvSizes sizes{n,
                      c,
                      h,
                      wd,
                      f,
                      kh,
                      kw,
                      strides[0],
                      strides[1],
                      dilations[0],
                      dilations[1],
                      oh,
                      ow};
      return emitPackedProduct(op, it->second, &sizes);
    }
    if (!destination(op, r, init, /*readsInit=*/true))
      return false;
    std::string shape =
        "{" + std::to_string(n) + ", " + std::to_string(c) + ", " +
        std::to_string(h) + ", " + std::to_string(wd) + ", " +
        std::to_string(f) + ", " + std::to_string(kh) + ", " +
        std::to_string(kw) + ", " + std::to_string(strides[0]) + ", " +
        std::to_string(strides[1]) + ", " + std::to_string(dilations[0]) +
        ", " + std::to_string(dilations[1]) + ", " + std::to_string(groups) +
        ", " + std::to_string(oh) + ", " + std::to_string(ow) + "}";
    convTable += "    " + shape + ", // '" + nodeOf(op) + "'\n";
    run += "  // " + std::string(op->getName().getStringRef()) + " '" +
           nodeOf(op) + "'\n  if (!sparq_rt::conv(m, " +
           std::to_string(convCount) + ", kConvs[" + std::to_string(convCount) +
           "], " + operand(x) + ", " + operand(w) + ", " + operand(r) +
           ")) return -1;\n";
    ++convCount;
    return true;
  }

  /// One thread per output: the window's dot product with its patch and
  /// its energy, summed in (channel, row, column) order, then divided.
  bool emitCorrelation(mlir::sparq::CorrelationOp op) {
    auto st = cast<RankedTensorType>(op.getSearch().getType());
    auto pt = cast<RankedTensorType>(op.getPatches().getType());
    auto ot = cast<RankedTensorType>(op.getType());
    std::string search = operand(op.getSearch()),
                patches = operand(op.getPatches());
    if (search.empty() || patches.empty())
      return fail(op, "a correlation whose operands have no buffer");
    std::string out = allocate(op.getResult());
    auto num = [](int64_t v) { return std::to_string(v) + "LL"; };
    int64_t c = st.getDimSize(1), h = st.getDimSize(2), w = st.getDimSize(3);
    int64_t kh = pt.getDimSize(2), kw = pt.getDimSize(3);
    std::string stride = num(op.getStride());
    std::string name;
    std::string k =
        openKernel(op,
                   "correlation of " + std::to_string(pt.getDimSize(0)) +
                       " patches " + shapeText(pt.getShape().drop_front()) +
                       ", stride " + std::to_string(op.getStride()),
                   {"const float *__restrict__ s",
                    "const float *__restrict__ pt", "float *__restrict__ out"},
                   ot.getNumElements(), name);
    k += decode({0, 1, 2, 3}, ot.getShape());
    k += "  float dot = 0.0f, energy = 0.0f;\n";
    k += "  for (long long c = 0; c < " + num(c) + "; ++c)\n";
    k += "    for (long long i = 0; i < " + num(kh) + "; ++i)\n";
    k += "      for (long long j = 0; j < " + num(kw) + "; ++j) {\n";
    k += "        float v = s[((i0 * " + num(c) + " + c) * " + num(h) +
         " + i2 * " + stride + " + i) * " + num(w) + " + i3 * " + stride +
         " + j];\n";
    k += "        dot += pt[((i1 * " + num(c) + " + c) * " + num(kh) +
         " + i) * " + num(kw) + " + j] * v;\n";
    k += "        energy += v * v;\n      }\n";
    Type f32 = Float32Type::get(op.getContext());
    k += "  out[t] = dot / sqrtf(energy + " +
         literal(FloatAttr::get(f32, op.getEps().convertToFloat()), f32) +
         ");\n}\n\n";
    kernels += k;
    launch(name, ot.getNumElements(), {search, patches, out}, op);
    return true;
  }

  bool emitBevPool(mlir::sparq::BevPoolOp op) {
    std::vector<uint8_t> bytes = op.serializePlan();
    auto out = cast<RankedTensorType>(op.getType());
    uint64_t offset = weights.append(bytes.data(), bytes.size());
    Value r = op.getResult();
    std::string o = allocate(r);
    int64_t channels = op.getNumChannels(), points = op.getNumPoints(),
            intervals = op.getNumIntervals();
    auto at = [&](int64_t words) {
      return "((const int32_t *)(m->weights + " +
             std::to_string(offset + 32 + 4 * words) + "))";
    };
    run += "  // sparq.bev_pool '" + nodeOf(op) +
           "': " + std::to_string(points) + " points in " +
           std::to_string(intervals) + " of " +
           std::to_string(op.getNumCells()) + " cells, " +
           std::to_string(channels) + " channels" +
           (op.getChannelsFirst() ? ", channels first" : "") + "\n";
    run += "  if (!sparq_rt::zero(m, " + o + ", " +
           std::to_string(out.getNumElements() * 4) + ")) return -1;\n";
    int64_t total = intervals * channels;
    run += "  SPARQ_LAUNCH(sparq_bev_pool_kernel, " +
           std::to_string(
               std::max<int64_t>(1, (total + kThreads - 1) / kThreads)) +
           ", " + std::to_string(kThreads) + ", m->stream, " + at(0) + ", " +
           at(points) + ", " + at(2 * points) + ", " +
           at(2 * points + intervals + 1) + ", " + operand(op.getDepth()) +
           ", " + operand(op.getFeatures()) + ", " + std::to_string(channels) +
           "LL, " + std::to_string(intervals) + "LL, " +
           std::to_string(op.getNumCells()) + "LL, " +
           (op.getChannelsFirst() ? "1" : "0") + ", " + o + ");\n";
    usesBevPool = true;
    return true;
  }

  bool emitGeneric(linalg::GenericOp g);
};

/// The body of a linalg.generic as C statements.
struct BodyWriter {
  BodyWriter(Emitter &e, linalg::GenericOp g) : e(e), g(g) {}
  Emitter &e;
  linalg::GenericOp g;
  DenseMap<Value, std::string> names;
  /// Tensors the body reads with tensor.extract, captured from above:
  /// extra kernel parameters.
  SmallVector<Value> captured;
  std::string code;
  int counter = 0;

  /// The C expression of `v`: a body value, or a scalar constant from
  /// above (canonicalization hoists them out of bodies).
  std::string name(Value v) {
    std::string n = names.lookup(v);
    if (n.empty())
      if (auto c = v.getDefiningOp<arith::ConstantOp>();
          c && !isa<ShapedType>(c.getType()))
        n = literal(c.getValue(), c.getType());
    return n;
  }

  std::string capture(Value t) {
    for (size_t i = 0; i < captured.size(); ++i)
      if (captured[i] == t)
        return "cap" + std::to_string(i);
    captured.push_back(t);
    return "cap" + std::to_string(captured.size() - 1);
  }

  /// `expr` of `op` (one result) for the C expression of each operand.
  std::string expression(Operation *op) {
    if (auto i = dyn_cast<linalg::IndexOp>(op))
      return "i" + std::to_string(i.getDim());
    if (auto x = dyn_cast<tensor::ExtractOp>(op)) {
      auto t = cast<RankedTensorType>(x.getTensor().getType());
      SmallVector<std::string> idx;
      for (Value v : x.getIndices())
        idx.push_back("(long long)" + name(v));
      return capture(x.getTensor()) + "[" + linearIndex(idx, t.getShape()) +
             "]";
    }
    SmallVector<std::string> operands;
    for (Value v : op->getOperands())
      operands.push_back(name(v));
    return scalarExpression(op, operands, Syntax::C);
  }

  bool write(Block &body) {
    for (Operation &op : body.without_terminator()) {
      if (op.getNumResults() != 1 || op.getNumRegions())
        return e.fail(g, "a generic whose body holds '" +
                             op.getName().getStringRef().str() + "'");
      std::string expr = expression(&op);
      std::string ct = cType(op.getResult(0).getType());
      bool known = llvm::all_of(op.getOperands(), [&](Value v) {
        return !name(v).empty() || isa<RankedTensorType>(v.getType());
      });
      if (!known)
        return e.fail(g, "a generic body reading a scalar computed outside it");
      if (expr.empty() || ct.empty())
        return e.fail(g, "'" + op.getName().getStringRef().str() +
                             "' in a generic body is not supported by the "
                             "cuda target yet");
      std::string v = "v" + std::to_string(counter++);
      code += "    const " + ct + " " + v + " = " + expr + ";\n";
      names[op.getResult(0)] = v;
    }
    return true;
  }
};

bool Emitter::emitGeneric(linalg::GenericOp g) {
  SmallVector<int64_t> ranges = g.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iters = g.getIteratorTypesArray();
  SmallVector<int64_t> parallel, reduction, psizes;
  for (size_t i = 0; i < iters.size(); ++i) {
    if (ShapedType::isDynamic(ranges[i]))
      return fail(g, "a generic with dynamic loop ranges");
    if (iters[i] == utils::IteratorType::parallel) {
      parallel.push_back(i);
      psizes.push_back(ranges[i]);
    } else {
      reduction.push_back(i);
    }
  }
  Block &body = g.getRegion().front();
  // Every output must be indexed by all parallel loops (one thread, one
  // element of each output).
  for (OpOperand &init : g.getDpsInitsMutable()) {
    AffineMap map = g.getMatchingIndexingMap(&init);
    if (!map.isProjectedPermutation() ||
        int64_t(map.getNumResults()) != int64_t(parallel.size()))
      return fail(g, "a generic whose output is not indexed by its parallel "
                     "loops");
  }
  bool reads = !reduction.empty();
  for (OpOperand &init : g.getDpsInitsMutable())
    reads |= g.payloadUsesValueFromOperand(&init);
  for (auto [r, init] : llvm::zip(g->getResults(), g.getDpsInits()))
    if (!destination(g, r, init, reads))
      return false;

  BodyWriter w(*this, g);
  SmallVector<std::string> params, args;
  std::string loads;
  int64_t total = 1;
  for (int64_t s : psizes)
    total *= s;
  for (OpOperand *in : g.getDpsInputOperands()) {
    auto t = dyn_cast<RankedTensorType>(in->get().getType());
    BlockArgument arg = body.getArgument(in->getOperandNumber());
    std::string v = "a" + std::to_string(in->getOperandNumber());
    if (!t) { // a scalar operand
      auto c = in->get().getDefiningOp<arith::ConstantOp>();
      if (!c)
        return fail(g, "a generic with a scalar operand that is not constant");
      w.names[arg] = literal(c.getValue(), arg.getType());
      continue;
    }
    if (arg.use_empty())
      continue;
    std::string ct = cType(t.getElementType());
    params.push_back("const " + ct + " *__restrict__ in" +
                     std::to_string(in->getOperandNumber()));
    args.push_back(operand(in->get()));
    SmallVector<std::string> idx;
    for (AffineExpr x : g.getMatchingIndexingMap(in).getResults())
      idx.push_back(affineText(x));
    loads += "    const " + ct + " " + v + " = in" +
             std::to_string(in->getOperandNumber()) + "[" +
             linearIndex(idx, t.getShape()) + "];\n";
    w.names[arg] = v;
  }
  std::string init, store;
  for (auto [k, out] : llvm::enumerate(g.getDpsInitsMutable())) {
    auto t = cast<RankedTensorType>(out.get().getType());
    std::string ct = cType(t.getElementType());
    SmallVector<std::string> idx;
    for (AffineExpr x : g.getMatchingIndexingMap(&out).getResults())
      idx.push_back(affineText(x));
    std::string at =
        "out" + std::to_string(k) + "[" + linearIndex(idx, t.getShape()) + "]";
    params.push_back(ct + " *__restrict__ out" + std::to_string(k));
    args.push_back(operand(g->getResult(k)));
    std::string acc = "acc" + std::to_string(k);
    init +=
        "  " + ct + " " + acc + (reads ? " = " + at : std::string()) + ";\n";
    store += "  " + at + " = " + acc + ";\n";
    w.names[body.getArgument(g.getNumDpsInputs() + k)] = acc;
  }
  if (!w.write(body))
    return false;
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  std::string update;
  for (auto [k, v] : llvm::enumerate(yield.getOperands())) {
    std::string n = w.name(v);
    if (n.empty())
      return fail(g, "a generic yielding a value from outside its body");
    update += "    acc" + std::to_string(k) + " = " + n + ";\n";
  }
  for (auto [i, c] : llvm::enumerate(w.captured)) {
    auto t = cast<RankedTensorType>(c.getType());
    params.push_back("const " + cType(t.getElementType()) +
                     " *__restrict__ cap" + std::to_string(i));
    if (where.find(c) == where.end())
      return fail(g, "a generic reading a tensor without a buffer");
    args.push_back(operand(c));
  }
  std::string what = "generic " + shapeText(psizes);
  if (!reduction.empty())
    what += ", reducing " + shapeText([&] {
              SmallVector<int64_t> s;
              for (int64_t d : reduction)
                s.push_back(ranges[d]);
              return s;
            }());
  std::string name;
  std::string k = openKernel(g, what, params, total, name);
  k += decode(parallel, psizes) + init;
  std::string indent = "  ";
  for (int64_t d : reduction) {
    k += indent + "for (long long i" + std::to_string(d) + " = 0; i" +
         std::to_string(d) + " < " + std::to_string(ranges[d]) + "LL; ++i" +
         std::to_string(d) + ") {\n";
    indent += "  ";
  }
  k += "  {\n" + loads + w.code + update + "  }\n";
  for (size_t i = 0; i < reduction.size(); ++i)
    k += "  }\n";
  k += store + "}\n\n";
  kernels += k;
  launch(name, total, args, g);
  return true;
}

} // namespace

bool ::sparq::cuda::emitModel(ModuleOp module, const std::string &header,
                              ::sparq::io::WeightsBlob &weights,
                              std::string &source, std::string &error) {
  auto f = module.lookupSymbol<func::FuncOp>("forward");
  if (!f) {
    error = "the module has no @forward";
    return false;
  }
  Emitter e(weights);
  std::string inputs, outputs;
  if (!e.emitFunc(f, inputs, outputs)) {
    error = e.error;
    return false;
  }
  std::string s = header;
  s += "#include \"sparq_cuda_runtime.h\"\n";
  if (e.usesBevPool)
    s += "#include \"BevPoolKernel.cuh\"\n";
  if (e.usesBitPack)
    s += "#include \"BitPack.h\"\n";
  s += "\nnamespace {\n\n";
  s += "// The weights this code was compiled with (model.weights).\n";
  s += "constexpr uint64_t kWeightsBytes = " + std::to_string(weights.size()) +
       "ULL;\nconstexpr uint64_t kWeightsDigest = " +
       std::to_string(weights.digest()) + "ULL;\n";
  s += "// Every tensor's buffer, at offsets below.\nconstexpr size_t "
       "kArenaBytes = " +
       std::to_string(e.arena) + ";\n";
  s += "// The convolutions, for cuDNN's descriptors: n, c, h, w, f, kh, kw,\n"
       "// strides, dilations, groups, oh, ow.\n";
  s += "const sparq_rt::ConvShape kConvs[] = {\n" +
       (e.convTable.empty() ? "    {},\n" : e.convTable) + "};\n";
  s += "constexpr int kConvCount = " + std::to_string(e.convCount) + ";\n\n";
  s += e.kernels;
  s += "} // namespace\n\n";
  s += "struct sparq_model : sparq_rt::Model {};\n\n";
  s += "extern \"C\" sparq_model *sparq_model_load(const char *dir, char "
       "*error, size_t error_size) {\n"
       "  sparq_model *m = new sparq_model;\n"
       "  if (sparq_rt::loadWeights(m, dir, kWeightsBytes, kWeightsDigest) &&\n"
       "      sparq_rt::start(m, kArenaBytes, kConvs, kConvCount))\n"
       "    return m;\n"
       "  if (error && error_size)\n"
       "    std::snprintf(error, error_size, \"%s\", m->error.c_str());\n"
       "  sparq_model_free(m);\n  return nullptr;\n}\n\n";
  s += "extern \"C\" int sparq_model_run(sparq_model *m, const void *const "
       "*inputs, void *const *outputs) {\n";
  s += inputs + "  if (!sparq_rt::mark(m, 0)) return -1;\n" + e.run +
       "  if (!sparq_rt::mark(m, 1)) return -1;\n" + outputs;
  s += "  return sparq_rt::finish(m) ? 0 : -1;\n}\n\n";
  s += "extern \"C\" const char *sparq_model_error(const sparq_model *m) {\n"
       "  return m->error.c_str();\n}\n\n"
       "extern \"C\" double sparq_model_last_device_ms(const sparq_model *m) "
       "{\n  return m->lastDeviceMs;\n}\n\n"
       "extern \"C\" void sparq_model_free(sparq_model *m) {\n"
       "  if (!m)\n    return;\n  sparq_rt::stop(m);\n  delete m;\n}\n";
  source = std::move(s);
  return true;
}
