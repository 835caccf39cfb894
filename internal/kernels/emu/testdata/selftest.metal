// Kernels that check the emulator's own SIMD-group functions and vector
// constructors against values computed in Go (runtime_test.go).
#include <metal_stdlib>
using namespace metal;

// One row of 12 floats per thread: SIMD-group functions of the lane index.
kernel void emu_selftest_simd(
        device float * out [[buffer(0)]],
        uint tiitg [[thread_index_in_threadgroup]],
        uint tgpig [[threadgroup_position_in_grid]],
        ushort ntg [[threads_per_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    const float v = (float) tiisg;
    device float * o = out + (tgpig * ntg + tiitg) * 12;
    o[0] = simd_sum(v);
    o[1] = simd_max(v);
    o[2] = simd_min(v + 1.0f);
    o[3] = simd_prefix_exclusive_sum(v);
    o[4] = simd_prefix_inclusive_sum(v);
    o[5] = simd_shuffle_down(v, 1);
    o[6] = simd_shuffle_up(v, 2);
    o[7] = simd_shuffle_xor(v, 1);
    o[8] = simd_broadcast(v, 3);
    o[9] = simd_shuffle(v, (ushort) (31 - tiisg));
    o[10] = simd_broadcast_first(v + 10.0f);
    o[11] = simd_any(tiisg == 5) ? (simd_all(tiisg < 40) ? 2.0f : 1.0f) : 0.0f;
}

// Vector constructors, conversions and swizzles, one thread.
kernel void emu_selftest_vectors(
        device const half4 * in  [[buffer(0)]],
        device       float * out [[buffer(1)]]) {
    const float4 a = float4(in[0]);                 // half4 -> float4: converts
    const float4 b = float4(a.xy, 5.0f, 6);         // concatenation
    const float2 c = float2(7.0f);                  // splat
    const int4   d = int4(float4(-1.5f, 2.5f, 3.9f, -0.2f));  // truncation
    const uint   e = as_type<uint>(1.0f);           // bit cast
    const half2  f = half2(b.wz);
    out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
    out[4] = b.z; out[5] = b.w; out[6] = c.y;
    out[7] = (float) d.x; out[8] = (float) d.y; out[9] = (float) d.z; out[10] = (float) d.w;
    out[11] = (float) (e >> 23);
    out[12] = float(f.x) + float(f.y);
    out[13] = dot(b, float4(1.0f)) + clamp(9.0f, 0.0f, 8.0f);
}
