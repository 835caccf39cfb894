#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// Rotary position embedding, in place, of every head of every row; row r is
// at position pos0 + r. One threadgroup per (row, head): grid (rows, heads,
// 1); its threads stride over the n_dims/2 pairs (threadgroup
// (min(64, n_dims/2), 1, 1), any size works; the built-ins are declared as
// ggml-metal's kernel_rope_norm does, the grid position and the
// threadgroup size both three-component vectors, as MSL requires of
// vector-typed grid inputs). Pair i is (x[2i], x[2i+1]),
// or (x[i], x[i + n_dims/2]) in NeoX order; dimensions >= n_dims are left
// as they are.
//
// The angle of pair i is theta = pos * freq_base^(-2i/n_dims), divided by
// the frequency factor ff[i] when has_ff, times freq_scale. ggml's CPU code
// (and internal/cpu.RopeAngles) builds freq_base^(-2i/n_dims) by repeated
// multiplication; here each pair computes it directly with pow, which is at
// least as accurate: the two agree to about i * 2^-23 relative, so within
// 1e-5 relative of theta for n_dims <= 256. cos and sin are the precise
// versions: fast-math ones lose accuracy for the large angles of late positions.
//
// Interleaved multimodal RoPE (Qwen3.5; sec0..sec3 not all 0) on text, where
// the t, h and w positions are all pos and e is 0: pair i turns by the same
// theta unless its sector s = i % (sec0+sec1+sec2+sec3) reads e, which is
// when s >= 3*sec[s % 3] (engine.Rope.Rotates); such pairs are left as they are.
kernel void kernel_rope(
        constant     RopeArgs & args [[buffer(0)]],
        device       float    * x    [[buffer(1)]],
        device const float    * ff   [[buffer(2)]],
        uint3   tgpig [[threadgroup_position_in_grid]],
        ushort  tiitg [[thread_index_in_threadgroup]],
        ushort3 ntg   [[threads_per_threadgroup]]) {
    const int   n_dims = args.n_dims;
    const int   n_half = n_dims / 2;
    const float pos    = float(args.pos0 + (int) tgpig.x);
    const int   sec_n  = args.sec0 + args.sec1 + args.sec2 + args.sec3;
    device float * xh = x + (ulong) tgpig.x * args.ne0 + (ulong) tgpig.y * args.head_dim;

    for (int i = tiitg; i < n_half; i += ntg.x) {
        if (sec_n > 0) {
            const int s   = i % sec_n;
            const int sec = s % 3 == 0 ? args.sec0 : (s % 3 == 1 ? args.sec1 : args.sec2);
            if (s >= 3 * sec) {
                continue;
            }
        }
        float theta = pos * precise::pow(args.freq_base, float(-2 * i) / float(n_dims));
        if (args.has_ff != 0) {
            theta /= ff[i];
        }
        theta *= args.freq_scale;
        const float c = precise::cos(theta);
        const float s = precise::sin(theta);

        const int a = args.neox != 0 ? i : 2 * i;
        const int b = args.neox != 0 ? i + n_half : 2 * i + 1;
        const float x0 = xh[a];
        const float x1 = xh[b];
        xh[a] = x0 * c - x1 * s;
        xh[b] = x0 * s + x1 * c;
    }
}
