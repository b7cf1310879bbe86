// RUN: sparq-opt %s -sparq-externalize-weights="file=%t.weights" | FileCheck %s
// RUN: od -A d -t x1 -N 32 %t.weights | FileCheck %s --check-prefix=FILE
// RUN: od -A d -t f4 -j 64 -N 8 %t.weights | FileCheck %s --check-prefix=PAYLOAD
// RUN: od -A d -t d2 -j 1088 -N 4 %t.weights | FileCheck %s --check-prefix=REPEATED
// RUN: wc -c < %t.weights | FileCheck %s --check-prefix=SIZE
// RUN: not sparq-opt %s -sparq-externalize-weights 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: sparq-opt %s -sparq-externalize-weights="file=%t.weights" | not sparq-opt -sparq-externalize-weights="file=%t.2" 2>&1 | FileCheck %s --check-prefix=TWICE

// Large dense constants (here 1 KiB of f32, a 512-byte splat of i16) leave
// the module: every addressof becomes the loaded __sparq_weights plus the
// constant's offset (64-byte aligned). Small ones, i1 arrays and globals
// used outside functions stay.

llvm.mlir.global private constant @big(dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0, 64.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0, 64.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0, 64.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0, 64.0]]> : tensor<4x64xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<4 x array<64 x f32>>
llvm.mlir.global private constant @splat(dense<7> : tensor<256xi16>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<256 x i16>
llvm.mlir.global private constant @small(dense<[1.0, 2.0]> : tensor<2xf32>) {addr_space = 0 : i32} : !llvm.array<2 x f32>
llvm.mlir.global private constant @bits(dense<true> : tensor<4096xi1>) {addr_space = 0 : i32} : !llvm.array<4096 x i1>
llvm.mlir.global private constant @pinned(dense<5> : tensor<512xi8>) {addr_space = 0 : i32} : !llvm.array<512 x i8>
llvm.mlir.global internal constant @table() {addr_space = 0 : i32} : !llvm.ptr {
  %0 = llvm.mlir.addressof @pinned : !llvm.ptr
  llvm.return %0 : !llvm.ptr
}

llvm.func @forward() -> !llvm.ptr {
  %0 = llvm.mlir.addressof @big : !llvm.ptr
  %1 = llvm.mlir.addressof @splat : !llvm.ptr
  %2 = llvm.mlir.addressof @small : !llvm.ptr
  %3 = llvm.mlir.addressof @bits : !llvm.ptr
  %4 = llvm.mlir.addressof @pinned : !llvm.ptr
  %5 = llvm.getelementptr %0[1] : (!llvm.ptr) -> !llvm.ptr, f32
  llvm.return %1 : !llvm.ptr
}

// CHECK:       llvm.mlir.global external @__sparq_weights() {{.*}} : !llvm.ptr {
// CHECK-NEXT:    %[[Z:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK-NEXT:    llvm.return %[[Z]]
// CHECK-NOT:   @big(
// CHECK-NOT:   @splat(
// CHECK:       llvm.mlir.global private constant @small(
// CHECK:       llvm.mlir.global private constant @bits(
// CHECK:       llvm.mlir.global private constant @pinned(
// CHECK-LABEL: llvm.func @forward()
// CHECK:         %[[S0:.*]] = llvm.mlir.addressof @__sparq_weights
// CHECK-NEXT:    %[[B0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT:    %[[O0:.*]] = llvm.mlir.constant(0 : i64) : i64
// CHECK-NEXT:    %[[BIG:.*]] = llvm.getelementptr inbounds %[[B0]][%[[O0]]] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK:         %[[S1:.*]] = llvm.mlir.addressof @__sparq_weights
// CHECK-NEXT:    %[[B1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT:    %[[O1:.*]] = llvm.mlir.constant(1024 : i64) : i64
// CHECK-NEXT:    %[[SPLAT:.*]] = llvm.getelementptr inbounds %[[B1]][%[[O1]]]
// CHECK:         llvm.mlir.addressof @small
// CHECK:         llvm.mlir.addressof @bits
// CHECK:         llvm.mlir.addressof @pinned
// CHECK:         llvm.getelementptr %[[BIG]][1]
// CHECK:         llvm.return %[[SPLAT]]
// CHECK:       llvm.mlir.global external constant @__sparq_weights_size(1536 : i64)
// CHECK:       llvm.mlir.global external constant @__sparq_weights_digest(

// The header ("SPARQWT1", version 1, 1536 payload bytes), then the payload.
// FILE: 0000000 53 50 41 52 51 57 54 31 01 00 00 00 00 00 00 00
// FILE-NEXT: 0000016 00 06 00 00 00 00 00 00
// PAYLOAD: 0000064 1 2
// REPEATED: 0001088 7 7
// SIZE: 1600

// NOFILE: sparq-externalize-weights needs file=PATH: the weights would be lost
// TWICE: the module already has '__sparq_weights': its weights were moved out before
