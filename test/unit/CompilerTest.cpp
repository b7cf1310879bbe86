// The embeddable C++ API: compile the bundled example and compare with the
// logits PyTorch computed when it was exported; errors come back as text.

#include "compiler/Compiler.h"
#include "runtime/io/Npy.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

const std::string kExamples = SPARQ_SOURCE_DIR "/examples/";

TEST(Compiler, RunsTheExampleLikePyTorch) {
  sparq::Compiler compiler;
  sparq::CompileOptions options;
  auto exe = compiler.compileForHost(kExamples + "small_cnn.onnx", options);
  ASSERT_TRUE(exe) << compiler.error();
  ASSERT_EQ(exe->inputSpecs().size(), 1u);
  EXPECT_EQ(exe->inputSpecs()[0].name, "input");
  sparq::io::HostTensor input, expected;
  std::string err;
  ASSERT_TRUE(sparq::io::readNpy(kExamples + "input.npy", input, err)) << err;
  ASSERT_TRUE(
      sparq::io::readNpy(kExamples + "expected_logits.npy", expected, err))
      << err;
  std::vector<sparq::io::HostTensor> outputs;
  ASSERT_TRUE(exe->run({&input}, outputs, err)) << err;
  ASSERT_EQ(outputs.size(), 1u);
  ASSERT_EQ(outputs[0].shape, expected.shape);
  for (int64_t i = 0; i < expected.numElements(); ++i)
    EXPECT_NEAR(outputs[0].as<float>()[i], expected.as<float>()[i],
                1e-4 + 1e-3 * std::fabs(expected.as<float>()[i]));
  // A second run reuses the compiled code and gives the same result.
  std::vector<sparq::io::HostTensor> again;
  ASSERT_TRUE(exe->run({&input}, again, err)) << err;
  EXPECT_EQ(again[0].data, outputs[0].data);
}

TEST(Compiler, RejectsInputsOfTheWrongShape) {
  sparq::Compiler compiler;
  auto exe = compiler.compileForHost(kExamples + "small_cnn.onnx", {});
  ASSERT_TRUE(exe) << compiler.error();
  sparq::io::HostTensor wrong;
  wrong.dtype = sparq::io::DType::F32;
  wrong.shape = {1, 3, 16, 16};
  wrong.data.assign(wrong.numElements() * 4, 0);
  std::vector<sparq::io::HostTensor> outputs;
  std::string err;
  EXPECT_FALSE(exe->run({&wrong}, outputs, err));
  EXPECT_NE(err.find("input 'input' expects f32 of shape 1x3x32x32"),
            std::string::npos)
      << err;
}

TEST(Compiler, ReportsAMissingModel) {
  sparq::Compiler compiler;
  EXPECT_FALSE(compiler.compileForHost("/nonexistent/model.onnx", {}));
  EXPECT_NE(compiler.error().find("cannot open model"), std::string::npos)
      << compiler.error();
}

TEST(Compiler, CountsLayersForTheReport) {
  sparq::Compiler compiler;
  ASSERT_TRUE(compiler.importOnnx(kExamples + "small_cnn.onnx", {}))
      << compiler.error();
  int64_t convMacs = 0;
  for (const sparq::LayerInfo &l : compiler.layers())
    if (l.opType == "Conv")
      convMacs += l.macs;
  // stem 16x3x3x3 on 32x32, two 16x16x3x3 on 32x32, head 32x16x3x3 on 8x8.
  EXPECT_EQ(convMacs,
            32 * 32 * 16 * 27 + 2 * 32 * 32 * 16 * 144 + 8 * 8 * 32 * 144);
}

} // namespace

#include "compiler/Recipe.h"

namespace {

TEST(Recipe, FlagsBecomeTheLongForm) {
  sparq::CompressionRecipe r;
  EXPECT_EQ(sparq::recipePipeline(r),
            "func.func(sparq-fuse-bev-pool,sparq-fuse-correlation),"
            "sparq-detect-compression,sparq-select-layout");
  r.detect = false;
  EXPECT_EQ(sparq::recipePipeline(r),
            "func.func(sparq-fuse-bev-pool,sparq-fuse-correlation)");
  r.fuse = false;
  EXPECT_EQ(sparq::recipePipeline(r), "");
  EXPECT_EQ(sparq::parsePruneFlag("kernel:0.7", r), "");
  EXPECT_EQ(r.prune, "kernel");
  EXPECT_DOUBLE_EQ(r.pruneRatio, 0.7);
  r.ternary = true;
  r.layers = "conv*";
  EXPECT_EQ(sparq::recipePipeline(r),
            "sparq-prune{granularity=kernel ratio=0.700000 layers=conv*},"
            "sparq-ternarize{threshold=0.050000 layers=conv*},"
            "sparq-select-layout");
  r.actBits = 8;
  EXPECT_EQ(sparq::recipePipeline(r),
            "sparq-prune{granularity=kernel ratio=0.700000 layers=conv*},"
            "sparq-ternarize{threshold=0.050000 layers=conv*},"
            "sparq-select-layout,sparq-quantize-activations{bits=8 "
            "layers=conv*}");
  sparq::CompressionRecipe nm;
  EXPECT_EQ(sparq::parsePruneFlag("2:4", nm), "");
  EXPECT_EQ(nm.prune, "2:4");
  EXPECT_NE(sparq::parsePruneFlag("kernel", nm), "");
  EXPECT_NE(sparq::parsePruneFlag("kernel:x", nm), "");
  EXPECT_NE(sparq::parsePruneFlag("4:2", nm), "");
}

TEST(Recipe, WordsSpellEveryFlag) {
  sparq::CompressionRecipe r;
  EXPECT_EQ(sparq::parseRecipe("prune=2:4,ternary=0.1,int4,group=64,"
                               "codebook=3,pe-balance=32:0.8,int8-activations,"
                               "no-detect,layers=fc*,conv1",
                               r),
            "");
  EXPECT_EQ(r.prune, "2:4");
  EXPECT_TRUE(r.ternary);
  EXPECT_DOUBLE_EQ(r.ternaryThreshold, 0.1);
  EXPECT_EQ(r.intBits, 4u);
  EXPECT_EQ(r.intGroup, 64);
  EXPECT_EQ(r.codebookBits, 3u);
  EXPECT_EQ(r.pes, 32u);
  EXPECT_DOUBLE_EQ(r.peRatio, 0.8);
  EXPECT_EQ(r.actBits, 8u);
  EXPECT_FALSE(r.detect);
  // layers= takes the rest: its patterns are comma-separated too.
  EXPECT_EQ(r.layers, "fc*,conv1");
  // Each bad word is named, with what it expects.
  sparq::CompressionRecipe b;
  EXPECT_EQ(sparq::parseRecipe("prun=kernel:0.7", b)
                .rfind("recipe word 'prun' is not a recipe word", 0),
            0u);
  EXPECT_NE(sparq::parseRecipe("prune", b).find("expects GRANULARITY:RATIO"),
            std::string::npos);
  EXPECT_NE(sparq::parseRecipe("ternary=1.5", b).find("threshold in [0, 1)"),
            std::string::npos);
  EXPECT_NE(sparq::parseRecipe("int4=3", b).find("takes no value"),
            std::string::npos);
  EXPECT_NE(sparq::parseRecipe("codebook=9", b).find("1..8 bits"),
            std::string::npos);
  EXPECT_NE(sparq::parseRecipe("pe-balance=32:1.5", b).find("ratio in [0, 1)"),
            std::string::npos);
  EXPECT_NE(sparq::parseRecipe("layers=a b", b).find("spaces"),
            std::string::npos);
  EXPECT_EQ(sparq::parseRecipe("", b), "");
}

TEST(Recipe, ReportMeasuresTheStoredBytes) {
  sparq::Compiler c;
  sparq::CompileOptions o;
  o.compression.prune = "element";
  o.compression.pruneRatio = 0.9;
  ASSERT_TRUE(c.importOnnx(SPARQ_SOURCE_DIR "/examples/small_cnn.onnx", o))
      << c.error();
  ASSERT_TRUE(c.runGraphPipeline(o)) << c.error();
  ASSERT_TRUE(c.collectCompression()) << c.error();
  int64_t weights = 0;
  for (const sparq::LayerInfo &l : c.layers())
    for (const sparq::WeightStats &w : l.weights) {
      ++weights;
      EXPECT_NEAR(w.density(), 0.1, 0.01) << l.name;
      EXPECT_EQ(w.format, "csr") << l.name;
      // CSR with 16-bit indices: 4 + 2 bytes per non-zero and a pointer
      // per row.
      EXPECT_EQ(w.bytes, (w.shape[0] + 1) * 4 + w.nonzeros * 6) << l.name;
      EXPECT_LT(l.storedBytes(), l.parameterBytes);
    }
  EXPECT_EQ(weights, 5);

  // Without sparq-select-layout there is no recorded cost: the report packs
  // (here a plain prune leaves the storage dense: 4 bytes a weight).
  sparq::Compiler d;
  sparq::CompileOptions plain;
  plain.compression.detect = false;
  plain.passPipeline = "sparq-prune{granularity=element ratio=0.5}";
  ASSERT_TRUE(d.importOnnx(SPARQ_SOURCE_DIR "/examples/small_cnn.onnx", plain));
  ASSERT_TRUE(d.runGraphPipeline(plain)) << d.error();
  ASSERT_TRUE(d.collectCompression()) << d.error();
  for (const sparq::LayerInfo &l : d.layers())
    for (const sparq::WeightStats &w : l.weights) {
      EXPECT_EQ(w.format, "dense") << l.name;
      EXPECT_EQ(w.bytes, w.denseBytes) << l.name;
      EXPECT_NEAR(w.density(), 0.5, 0.01) << l.name;
    }
}

} // namespace
