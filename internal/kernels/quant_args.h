// quant_args.h — the kernels' constant arguments, passed with setBytes at
// [[buffer(0)]] (the kernel's buffers follow at 1, 2, ...).
//
// kernels.Source() puts this header first; the emulator includes it. Each
// struct is mirrored field by field by the Go struct of the same name in
// internal/metal/args.go: 4-byte fields only (int32_t, uint32_t, float), in
// the same order, so both sides agree without padding.
#ifndef QUANT_ARGS_H
#define QUANT_ARGS_H

#include <metal_stdlib>  // int32_t and friends: this header comes first in Source()

// Element-wise kernels over n values (kernel_add).
struct CopyArgs {
    int32_t n;
};

// kernel_rms_norm: one threadgroup per row of ne0 values.
struct RMSNormArgs {
    int32_t ne0;
    float   eps;
};

// Matrix-vector kernels: dst[r][o] = sum_i w[o][i] * x[r][i], with w of ne01
// rows of ne00 values, nb01 bytes apart, and ne11 rows of x (and of dst).
struct MulMVArgs {
    int32_t  ne00;
    int32_t  ne01;
    uint32_t nb01;
    int32_t  ne11;
};

#endif
