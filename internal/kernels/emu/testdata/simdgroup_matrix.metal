// Kernels that check the emulator's SIMD-group matrices against values
// computed in Go (matrix_test.go). One simdgroup each.
#include <metal_stdlib>
using namespace metal;

// The addressing of one load and one store: elements per row, origin and
// transposition of each.
struct MatrixCopyArgs {
    uint  src_epr;
    uint  src_x;
    uint  src_y;
    uint  src_transpose;
    uint  dst_epr;
    uint  dst_x;
    uint  dst_y;
    uint  dst_transpose;
};

// A matrix loaded from src and stored into dst with the addressing of args,
// straight between device buffers (mem 0) or through threadgroup memory
// (mem 1: src copied into tg, loaded and stored there, tg copied out).
template <typename T>
void matrix_copy(
        constant MatrixCopyArgs & args, device const T * src, device T * dst,
        threadgroup T * tg, uint n, uint mem, ushort tiisg) {
    simdgroup_matrix<T, 8, 8> m;
    if (mem == 0) {
        simdgroup_load(m, src, args.src_epr, ulong2(args.src_x, args.src_y), args.src_transpose != 0);
        simdgroup_store(m, dst, args.dst_epr, ulong2(args.dst_x, args.dst_y), args.dst_transpose != 0);
        return;
    }
    for (uint i = tiisg; i < n; i += 32) {
        tg[i] = src[i];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    simdgroup_load(m, (threadgroup const T *) tg, args.src_epr, ulong2(args.src_x, args.src_y), args.src_transpose != 0);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint i = tiisg; i < n; i += 32) {
        tg[i] = dst[i];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    simdgroup_store(m, tg, args.dst_epr, ulong2(args.dst_x, args.dst_y), args.dst_transpose != 0);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint i = tiisg; i < n; i += 32) {
        dst[i] = tg[i];
    }
}

// buffer(3): the number of elements of src and dst, and the memory.
kernel void emu_selftest_matrix_copy_f32(
        constant MatrixCopyArgs & args [[buffer(0)]],
        device const float * src [[buffer(1)]],
        device       float * dst [[buffer(2)]],
        device const uint  * nm  [[buffer(3)]],
        threadgroup  float * tg  [[threadgroup(0)]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    matrix_copy(args, src, dst, tg, nm[0], nm[1], tiisg);
}

kernel void emu_selftest_matrix_copy_f16(
        constant MatrixCopyArgs & args [[buffer(0)]],
        device const half * src [[buffer(1)]],
        device       half * dst [[buffer(2)]],
        device const uint * nm  [[buffer(3)]],
        threadgroup  half * tg  [[threadgroup(0)]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    matrix_copy(args, src, dst, tg, nm[0], nm[1], tiisg);
}

// Products of the 8x8 matrices a, b, c (row-major in abc, 64 values each):
// dst holds a*b + c, a*b, a matrix filled with fill[0] and the diagonal
// matrix of fill[0], in the type T of the operands; the float kernel then
// a*b + c with c and the result in float and a, b rounded to half.
template <typename T>
void matrix_products(device const T * abc, device const float * fill, device T * dst) {
    simdgroup_matrix<T, 8, 8> a, b, c, d;
    simdgroup_load(a, abc);
    simdgroup_load(b, abc + 64);
    simdgroup_load(c, abc + 128);
    simdgroup_multiply_accumulate(d, a, b, c);
    simdgroup_store(d, dst);
    simdgroup_multiply(d, a, b);
    simdgroup_store(d, dst + 64);
    d = make_filled_simdgroup_matrix<T, 8, 8>(T(fill[0]));
    simdgroup_store(d, dst + 128);
    simdgroup_store(simdgroup_matrix<T, 8, 8>(T(fill[0])), dst + 192);
}

kernel void emu_selftest_matrix_products_f32(
        device const float * abc  [[buffer(0)]],
        device const float * fill [[buffer(1)]],
        device       float * dst  [[buffer(2)]]) {
    matrix_products(abc, fill, dst);
    // Mixed: half a and b, float c and d.
    device const half * h = (device const half *) (fill + 4);
    simdgroup_half8x8 a, b;
    simdgroup_float8x8 c;
    simdgroup_load(a, h);
    simdgroup_load(b, h + 64);
    simdgroup_load(c, abc + 128);
    simdgroup_multiply_accumulate(c, a, b, c);
    simdgroup_store(c, dst + 256);
}

kernel void emu_selftest_matrix_products_f16(
        device const half  * abc  [[buffer(0)]],
        device const float * fill [[buffer(1)]],
        device       half  * dst  [[buffer(2)]]) {
    matrix_products(abc, fill, dst);
}
