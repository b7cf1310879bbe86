// RUN: sparq-opt %s --sparq-host-lowering | FileCheck %s

// The host pipeline takes graph IR on tensors to the LLVM dialect: outputs
// become out-params, the entry gets a C interface, matmuls call the library.
// CHECK: llvm.func private @sparq_matmul_f32
// CHECK-LABEL: llvm.func @main(
// CHECK: llvm.call @sparq_matmul_f32
// CHECK: llvm.func @_mlir_ciface_main(
// CHECK-NOT: linalg.
// CHECK-NOT: tensor.
func.func @main(%a: tensor<4x8xf32> {bufferization.writable = false},
                %b: tensor<8x16xf32> {bufferization.writable = false}) -> tensor<4x16xf32>
    attributes {llvm.emit_c_interface} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %mm : tensor<4x16xf32>
}
