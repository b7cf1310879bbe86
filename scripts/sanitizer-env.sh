# Sourced by scripts/sanitize.sh and scripts/fuzz.sh: how the sanitizer
# build's reports are handled. Each option is narrow and says why
# (docs/testing.md has the whole story).
#
# allow_user_poisoning=0: LLVM's headers poison the unused part of each slab
# of BumpPtrAllocator when the including code is built with ASan (sparq's
# inline uses of them are); Debian's uninstrumented libMLIR then allocates
# from those slabs without unpoisoning, and ASan reports use-after-poison in
# mlir::StringAttr::get. Only user poisoning is ignored: ASan's own redzones,
# use-after-free and overflow checks stay on.
# abort_on_error=1: a report ends the process with SIGABRT, never with exit
# code 1, which a bad-input test would take for a clean error.
export ASAN_OPTIONS="allow_user_poisoning=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
