#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// Residual add, in place: dst[i] += x[i] for i < n (f32).
// Grid: ceil(n / T) threadgroups of T threads.
kernel void kernel_add(
        constant CopyArgs & args [[buffer(0)]],
        device   float    * dst  [[buffer(1)]],
        device const float * x   [[buffer(2)]],
        uint tpig [[thread_position_in_grid]]) {
    if (tpig >= (uint) args.n) {
        return;
    }
    dst[tpig] += x[tpig];
}
