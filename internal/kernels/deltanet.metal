#include <metal_stdlib>
using namespace metal;

#include "quant_args.h"

// Gated DeltaNet (Qwen3.5's recurrent layers): the causal convolution over
// q, k and v, and the delta rule. Both carry a per-layer state from one
// forward pass to the next (the backend's recurrent-state buffers), laid out
// as internal/cpu's, whose ConvSiLU and GatedDeltaRule are the references.

// Causal depthwise convolution + SiLU. One thread per channel (grid
// ceil(channels/256) threadgroups of 256; threads past the channels return),
// looping over the rows in order: the channel's window of its last kernel
// inputs slides from the state through the rows, so the rows of a batch
// depend on each other only through one thread's registers. At the end the
// window's last kernel-1 inputs are the new state. The window is a thread
// array of the largest kernel (16 taps; Qwen3.5 uses 4).
kernel void kernel_ssm_conv_silu(
        constant ConvArgs  & args  [[buffer(0)]],
        device const float * x     [[buffer(1)]],
        device const float * w     [[buffer(2)]],
        device       float * state [[buffer(3)]],
        device       float * dst   [[buffer(4)]],
        uint tpig [[thread_position_in_grid]]) {
    const int channels = args.channels;
    const int k        = args.taps;
    const int c        = (int) tpig;
    if (c >= channels) {
        return;
    }
    device       float * st   = state + (ulong) c * (k - 1);
    device const float * taps = w + (ulong) c * k;

    float win[16];
    for (int t = 0; t < k - 1; ++t) {
        win[t] = st[t];
    }
    for (int r = 0; r < args.n_rows; ++r) {
        win[k - 1] = x[(ulong) r * channels + c];
        float sum = 0.0f;
        for (int t = 0; t < k; ++t) {
            sum += taps[t] * win[t];
        }
        dst[(ulong) r * channels + c] = sum / (1.0f + exp(-sum));
        for (int t = 0; t < k - 1; ++t) {
            win[t] = win[t + 1];
        }
    }
    for (int t = 0; t < k - 1; ++t) {
        st[t] = win[t];
    }
}

// The gated delta rule, rows in order. Value head h = tgpig.x; each thread
// owns one column j of the head's state (tgpig.y * T + its index, T threads
// per threadgroup, a multiple of 32: grid (v_heads, ceil(state_dim/T), 1)).
// Column j is contiguous in the state (element (i, j) at j*dim + i), so a
// thread updates it alone, with no synchronisation:
//   S[:, j] *= decay;  delta = beta * (v[j] - S[:, j].k);
//   S[:, j] += k * delta;  out[j] = scale * S[:, j].q
// Every thread of the threadgroup needs the whole of q and k: each row they
// are loaded cooperatively into threadgroup(0) (q then k, 2*dim floats)
// while each simdgroup sums their squares into threadgroup(1) (2 floats per
// simdgroup); every thread then adds the partial sums up (as kernel_rms_norm
// does) and applies the L2 norms, 1/max(|q|, eps) and 1/max(|k|, eps), as
// it reads them. Threads past state_dim (when T does not divide it) only
// take part in the loads and barriers.
//
// beta = sigmoid(raw beta), decay = exp(a * softplus(alpha + dt_bias)) with
// softplus(y) = y above 20 (ggml's).
kernel void kernel_gated_delta_rule(
        constant    DeltaArgs & args    [[buffer(0)]],
        device const float    * x       [[buffer(1)]],
        device const float    * beta    [[buffer(2)]],
        device const float    * alpha   [[buffer(3)]],
        device const float    * a       [[buffer(4)]],
        device const float    * dt_bias [[buffer(5)]],
        device       float    * state   [[buffer(6)]],
        device       float    * dst     [[buffer(7)]],
        threadgroup  float    * qk      [[threadgroup(0)]],
        threadgroup  float    * sums    [[threadgroup(1)]],
        uint3   tgpig [[threadgroup_position_in_grid]],
        ushort  tiitg [[thread_index_in_threadgroup]],
        ushort3 ntg   [[threads_per_threadgroup]],
        ushort  sgitg [[simdgroup_index_in_threadgroup]],
        ushort  tiisg [[thread_index_in_simdgroup]],
        ushort  nsg   [[simdgroups_per_threadgroup]]) {
    const int dim   = args.state_dim;
    const int nk    = args.k_heads;
    const int nv    = args.v_heads;
    const int width = (2 * nk + nv) * dim;
    const int h     = (int) tgpig.x;
    const int kh    = h % nk;
    const int j     = (int) tgpig.y * ntg.x + tiitg;
    const float a_h  = a[h];
    const float dt_h = dt_bias[h];

    threadgroup float * q = qk;
    threadgroup float * k = qk + dim;
    device float * col = state + ((ulong) h * dim + j) * dim;  // used only when j < dim

    for (int r = 0; r < args.n_rows; ++r) {
        device const float * xr = x + (ulong) r * width;

        // The previous row's q, k and sums are no longer read.
        threadgroup_barrier(mem_flags::mem_threadgroup);
        float sq = 0.0f;
        float sk = 0.0f;
        for (int i = tiitg; i < dim; i += ntg.x) {
            const float qv = xr[kh * dim + i];
            const float kv = xr[(nk + kh) * dim + i];
            q[i] = qv;
            k[i] = kv;
            sq += qv * qv;
            sk += kv * kv;
        }
        sq = simd_sum(sq);
        sk = simd_sum(sk);
        if (tiisg == 0) {
            sums[2 * sgitg]     = sq;
            sums[2 * sgitg + 1] = sk;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        sq = 0.0f;
        sk = 0.0f;
        for (ushort s = 0; s < nsg; ++s) {
            sq += sums[2 * s];
            sk += sums[2 * s + 1];
        }
        const float qn = 1.0f / max(sqrt(sq), args.eps);
        const float kn = 1.0f / max(sqrt(sk), args.eps);

        if (j < dim) {
            const float b     = 1.0f / (1.0f + exp(-beta[r * nv + h]));
            const float y     = alpha[r * nv + h] + dt_h;
            const float decay = exp(a_h * (y > 20.0f ? y : log(1.0f + exp(y))));

            float kS = 0.0f;
            for (int i = 0; i < dim; ++i) {
                const float s = col[i] * decay;
                col[i] = s;
                kS += s * (k[i] * kn);
            }
            const float delta = b * (xr[(2 * nk + h) * dim + j] - kS);
            float qS = 0.0f;
            for (int i = 0; i < dim; ++i) {
                const float s = col[i] + (k[i] * kn) * delta;
                col[i] = s;
                qS += s * (q[i] * qn);
            }
            dst[((ulong) r * nv + h) * dim + j] = qS * args.scale;
        }
    }
}
