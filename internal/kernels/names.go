package kernels

import "github.com/quant-llm/quant/internal/gguf"

// WeightKernels names the kernels that read a weight type's rows, in its
// ggml block layout.
type WeightKernels struct {
	GetRows    string // embedding lookup (GetRowsArgs)
	MulMV      string // matrix x vector, one activation row per threadgroup (MatMulArgs)
	MulMVBatch string // matrix x vector, up to MVBatch activation rows sharing each weight read (MatMulArgs)
	MulMM      string // matrix x matrix, for batches (MatMulArgs)
	MulMVFused string // matrix x vector, of up to three weights, with an epilogue (FusedMVArgs)
	MulMVRows  int    // MulMV's and MulMVFused's weight rows per simdgroup: MVRowsPerSG or MVRowsPerSGK
}

// MulMVFusedMixed is the fused mat-vec over parts of different weight
// types (FusedMVArgs with the parts' types).
const MulMVFusedMixed = "kernel_mul_mv_fused_mixed"

// ForWeight returns the kernels of weight type t; false when the kernels
// cannot read t.
func ForWeight(t gguf.GGMLType) (WeightKernels, bool) {
	switch t {
	case gguf.TypeF32:
		return WeightKernels{"kernel_get_rows_f32", "kernel_mul_mv_f32", "kernel_mul_mv_batch_f32", "kernel_mul_mm_f32", "kernel_mul_mv_fused_f32", MVRowsPerSG}, true
	case gguf.TypeF16:
		return WeightKernels{"kernel_get_rows_f16", "kernel_mul_mv_f16", "kernel_mul_mv_batch_f16", "kernel_mul_mm_f16", "kernel_mul_mv_fused_f16", MVRowsPerSG}, true
	case gguf.TypeBF16:
		return WeightKernels{"kernel_get_rows_bf16", "kernel_mul_mv_bf16", "kernel_mul_mv_batch_bf16", "kernel_mul_mm_bf16", "kernel_mul_mv_fused_bf16", MVRowsPerSG}, true
	case gguf.TypeQ4_0:
		return WeightKernels{"kernel_get_rows_q4_0", "kernel_mul_mv_q4_0", "kernel_mul_mv_batch_q4_0", "kernel_mul_mm_q4_0", "kernel_mul_mv_fused_q4_0", MVRowsPerSG}, true
	case gguf.TypeQ4_1:
		return WeightKernels{"kernel_get_rows_q4_1", "kernel_mul_mv_q4_1", "kernel_mul_mv_batch_q4_1", "kernel_mul_mm_q4_1", "kernel_mul_mv_fused_q4_1", MVRowsPerSG}, true
	case gguf.TypeQ5_0:
		return WeightKernels{"kernel_get_rows_q5_0", "kernel_mul_mv_q5_0", "kernel_mul_mv_batch_q5_0", "kernel_mul_mm_q5_0", "kernel_mul_mv_fused_q5_0", MVRowsPerSG}, true
	case gguf.TypeQ5_1:
		return WeightKernels{"kernel_get_rows_q5_1", "kernel_mul_mv_q5_1", "kernel_mul_mv_batch_q5_1", "kernel_mul_mm_q5_1", "kernel_mul_mv_fused_q5_1", MVRowsPerSG}, true
	case gguf.TypeQ8_0:
		return WeightKernels{"kernel_get_rows_q8_0", "kernel_mul_mv_q8_0", "kernel_mul_mv_batch_q8_0", "kernel_mul_mm_q8_0", "kernel_mul_mv_fused_q8_0", MVRowsPerSG}, true
	case gguf.TypeQ2_K:
		return WeightKernels{"kernel_get_rows_q2_K", "kernel_mul_mv_q2_K", "kernel_mul_mv_batch_q2_K", "kernel_mul_mm_q2_K", "kernel_mul_mv_fused_q2_K", MVRowsPerSGK}, true
	case gguf.TypeQ3_K:
		return WeightKernels{"kernel_get_rows_q3_K", "kernel_mul_mv_q3_K", "kernel_mul_mv_batch_q3_K", "kernel_mul_mm_q3_K", "kernel_mul_mv_fused_q3_K", MVRowsPerSGK}, true
	case gguf.TypeQ4_K:
		return WeightKernels{"kernel_get_rows_q4_K", "kernel_mul_mv_q4_K", "kernel_mul_mv_batch_q4_K", "kernel_mul_mm_q4_K", "kernel_mul_mv_fused_q4_K", MVRowsPerSGK}, true
	case gguf.TypeQ5_K:
		return WeightKernels{"kernel_get_rows_q5_K", "kernel_mul_mv_q5_K", "kernel_mul_mv_batch_q5_K", "kernel_mul_mm_q5_K", "kernel_mul_mv_fused_q5_K", MVRowsPerSGK}, true
	case gguf.TypeQ6_K:
		return WeightKernels{"kernel_get_rows_q6_K", "kernel_mul_mv_q6_K", "kernel_mul_mv_batch_q6_K", "kernel_mul_mm_q6_K", "kernel_mul_mv_fused_q6_K", MVRowsPerSGK}, true
	}
	return WeightKernels{}, false
}

// CacheKernels names the kernels that attend over a KV cache whose keys
// are stored as one type and values as another (or the same);
// kernel_rope_store writes every cache type.
type CacheKernels struct {
	Attend      string // AttnArgs: prompt rows
	AttendSplit string // one decode row, in chunks of AttnArgs.Chunk positions (with one chunk, the output)
}

// ForCache returns the kernels of a KV cache with keys of type k and values
// of type v; false when either is not a cache type the kernels know.
func ForCache(k, v gguf.GGMLType) (CacheKernels, bool) {
	attend, split, ok := cacheAttend(k, v)
	if !ok {
		return CacheKernels{}, false
	}
	return CacheKernels{Attend: attend, AttendSplit: split}, true
}

// cacheAttend names the attention kernels over keys of type k and values of
// type v: every pair of the cache types.
func cacheAttend(k, v gguf.GGMLType) (attend, split string, ok bool) {
	type pair struct{ k, v gguf.GGMLType }
	switch (pair{k, v}) {
	case pair{gguf.TypeF32, gguf.TypeF32}:
		return "kernel_attn_f32_f32", "kernel_attn_split_f32_f32", true
	case pair{gguf.TypeF32, gguf.TypeF16}:
		return "kernel_attn_f32_f16", "kernel_attn_split_f32_f16", true
	case pair{gguf.TypeF32, gguf.TypeBF16}:
		return "kernel_attn_f32_bf16", "kernel_attn_split_f32_bf16", true
	case pair{gguf.TypeF32, gguf.TypeQ8_0}:
		return "kernel_attn_f32_q8_0", "kernel_attn_split_f32_q8_0", true
	case pair{gguf.TypeF32, gguf.TypeQ4_0}:
		return "kernel_attn_f32_q4_0", "kernel_attn_split_f32_q4_0", true
	case pair{gguf.TypeF32, gguf.TypeQ4_1}:
		return "kernel_attn_f32_q4_1", "kernel_attn_split_f32_q4_1", true
	case pair{gguf.TypeF32, gguf.TypeQ5_0}:
		return "kernel_attn_f32_q5_0", "kernel_attn_split_f32_q5_0", true
	case pair{gguf.TypeF32, gguf.TypeQ5_1}:
		return "kernel_attn_f32_q5_1", "kernel_attn_split_f32_q5_1", true
	case pair{gguf.TypeF16, gguf.TypeF32}:
		return "kernel_attn_f16_f32", "kernel_attn_split_f16_f32", true
	case pair{gguf.TypeF16, gguf.TypeF16}:
		return "kernel_attn_f16_f16", "kernel_attn_split_f16_f16", true
	case pair{gguf.TypeF16, gguf.TypeBF16}:
		return "kernel_attn_f16_bf16", "kernel_attn_split_f16_bf16", true
	case pair{gguf.TypeF16, gguf.TypeQ8_0}:
		return "kernel_attn_f16_q8_0", "kernel_attn_split_f16_q8_0", true
	case pair{gguf.TypeF16, gguf.TypeQ4_0}:
		return "kernel_attn_f16_q4_0", "kernel_attn_split_f16_q4_0", true
	case pair{gguf.TypeF16, gguf.TypeQ4_1}:
		return "kernel_attn_f16_q4_1", "kernel_attn_split_f16_q4_1", true
	case pair{gguf.TypeF16, gguf.TypeQ5_0}:
		return "kernel_attn_f16_q5_0", "kernel_attn_split_f16_q5_0", true
	case pair{gguf.TypeF16, gguf.TypeQ5_1}:
		return "kernel_attn_f16_q5_1", "kernel_attn_split_f16_q5_1", true
	case pair{gguf.TypeBF16, gguf.TypeF32}:
		return "kernel_attn_bf16_f32", "kernel_attn_split_bf16_f32", true
	case pair{gguf.TypeBF16, gguf.TypeF16}:
		return "kernel_attn_bf16_f16", "kernel_attn_split_bf16_f16", true
	case pair{gguf.TypeBF16, gguf.TypeBF16}:
		return "kernel_attn_bf16_bf16", "kernel_attn_split_bf16_bf16", true
	case pair{gguf.TypeBF16, gguf.TypeQ8_0}:
		return "kernel_attn_bf16_q8_0", "kernel_attn_split_bf16_q8_0", true
	case pair{gguf.TypeBF16, gguf.TypeQ4_0}:
		return "kernel_attn_bf16_q4_0", "kernel_attn_split_bf16_q4_0", true
	case pair{gguf.TypeBF16, gguf.TypeQ4_1}:
		return "kernel_attn_bf16_q4_1", "kernel_attn_split_bf16_q4_1", true
	case pair{gguf.TypeBF16, gguf.TypeQ5_0}:
		return "kernel_attn_bf16_q5_0", "kernel_attn_split_bf16_q5_0", true
	case pair{gguf.TypeBF16, gguf.TypeQ5_1}:
		return "kernel_attn_bf16_q5_1", "kernel_attn_split_bf16_q5_1", true
	case pair{gguf.TypeQ8_0, gguf.TypeF32}:
		return "kernel_attn_q8_0_f32", "kernel_attn_split_q8_0_f32", true
	case pair{gguf.TypeQ8_0, gguf.TypeF16}:
		return "kernel_attn_q8_0_f16", "kernel_attn_split_q8_0_f16", true
	case pair{gguf.TypeQ8_0, gguf.TypeBF16}:
		return "kernel_attn_q8_0_bf16", "kernel_attn_split_q8_0_bf16", true
	case pair{gguf.TypeQ8_0, gguf.TypeQ8_0}:
		return "kernel_attn_q8_0_q8_0", "kernel_attn_split_q8_0_q8_0", true
	case pair{gguf.TypeQ8_0, gguf.TypeQ4_0}:
		return "kernel_attn_q8_0_q4_0", "kernel_attn_split_q8_0_q4_0", true
	case pair{gguf.TypeQ8_0, gguf.TypeQ4_1}:
		return "kernel_attn_q8_0_q4_1", "kernel_attn_split_q8_0_q4_1", true
	case pair{gguf.TypeQ8_0, gguf.TypeQ5_0}:
		return "kernel_attn_q8_0_q5_0", "kernel_attn_split_q8_0_q5_0", true
	case pair{gguf.TypeQ8_0, gguf.TypeQ5_1}:
		return "kernel_attn_q8_0_q5_1", "kernel_attn_split_q8_0_q5_1", true
	case pair{gguf.TypeQ4_0, gguf.TypeF32}:
		return "kernel_attn_q4_0_f32", "kernel_attn_split_q4_0_f32", true
	case pair{gguf.TypeQ4_0, gguf.TypeF16}:
		return "kernel_attn_q4_0_f16", "kernel_attn_split_q4_0_f16", true
	case pair{gguf.TypeQ4_0, gguf.TypeBF16}:
		return "kernel_attn_q4_0_bf16", "kernel_attn_split_q4_0_bf16", true
	case pair{gguf.TypeQ4_0, gguf.TypeQ8_0}:
		return "kernel_attn_q4_0_q8_0", "kernel_attn_split_q4_0_q8_0", true
	case pair{gguf.TypeQ4_0, gguf.TypeQ4_0}:
		return "kernel_attn_q4_0_q4_0", "kernel_attn_split_q4_0_q4_0", true
	case pair{gguf.TypeQ4_0, gguf.TypeQ4_1}:
		return "kernel_attn_q4_0_q4_1", "kernel_attn_split_q4_0_q4_1", true
	case pair{gguf.TypeQ4_0, gguf.TypeQ5_0}:
		return "kernel_attn_q4_0_q5_0", "kernel_attn_split_q4_0_q5_0", true
	case pair{gguf.TypeQ4_0, gguf.TypeQ5_1}:
		return "kernel_attn_q4_0_q5_1", "kernel_attn_split_q4_0_q5_1", true
	case pair{gguf.TypeQ4_1, gguf.TypeF32}:
		return "kernel_attn_q4_1_f32", "kernel_attn_split_q4_1_f32", true
	case pair{gguf.TypeQ4_1, gguf.TypeF16}:
		return "kernel_attn_q4_1_f16", "kernel_attn_split_q4_1_f16", true
	case pair{gguf.TypeQ4_1, gguf.TypeBF16}:
		return "kernel_attn_q4_1_bf16", "kernel_attn_split_q4_1_bf16", true
	case pair{gguf.TypeQ4_1, gguf.TypeQ8_0}:
		return "kernel_attn_q4_1_q8_0", "kernel_attn_split_q4_1_q8_0", true
	case pair{gguf.TypeQ4_1, gguf.TypeQ4_0}:
		return "kernel_attn_q4_1_q4_0", "kernel_attn_split_q4_1_q4_0", true
	case pair{gguf.TypeQ4_1, gguf.TypeQ4_1}:
		return "kernel_attn_q4_1_q4_1", "kernel_attn_split_q4_1_q4_1", true
	case pair{gguf.TypeQ4_1, gguf.TypeQ5_0}:
		return "kernel_attn_q4_1_q5_0", "kernel_attn_split_q4_1_q5_0", true
	case pair{gguf.TypeQ4_1, gguf.TypeQ5_1}:
		return "kernel_attn_q4_1_q5_1", "kernel_attn_split_q4_1_q5_1", true
	case pair{gguf.TypeQ5_0, gguf.TypeF32}:
		return "kernel_attn_q5_0_f32", "kernel_attn_split_q5_0_f32", true
	case pair{gguf.TypeQ5_0, gguf.TypeF16}:
		return "kernel_attn_q5_0_f16", "kernel_attn_split_q5_0_f16", true
	case pair{gguf.TypeQ5_0, gguf.TypeBF16}:
		return "kernel_attn_q5_0_bf16", "kernel_attn_split_q5_0_bf16", true
	case pair{gguf.TypeQ5_0, gguf.TypeQ8_0}:
		return "kernel_attn_q5_0_q8_0", "kernel_attn_split_q5_0_q8_0", true
	case pair{gguf.TypeQ5_0, gguf.TypeQ4_0}:
		return "kernel_attn_q5_0_q4_0", "kernel_attn_split_q5_0_q4_0", true
	case pair{gguf.TypeQ5_0, gguf.TypeQ4_1}:
		return "kernel_attn_q5_0_q4_1", "kernel_attn_split_q5_0_q4_1", true
	case pair{gguf.TypeQ5_0, gguf.TypeQ5_0}:
		return "kernel_attn_q5_0_q5_0", "kernel_attn_split_q5_0_q5_0", true
	case pair{gguf.TypeQ5_0, gguf.TypeQ5_1}:
		return "kernel_attn_q5_0_q5_1", "kernel_attn_split_q5_0_q5_1", true
	case pair{gguf.TypeQ5_1, gguf.TypeF32}:
		return "kernel_attn_q5_1_f32", "kernel_attn_split_q5_1_f32", true
	case pair{gguf.TypeQ5_1, gguf.TypeF16}:
		return "kernel_attn_q5_1_f16", "kernel_attn_split_q5_1_f16", true
	case pair{gguf.TypeQ5_1, gguf.TypeBF16}:
		return "kernel_attn_q5_1_bf16", "kernel_attn_split_q5_1_bf16", true
	case pair{gguf.TypeQ5_1, gguf.TypeQ8_0}:
		return "kernel_attn_q5_1_q8_0", "kernel_attn_split_q5_1_q8_0", true
	case pair{gguf.TypeQ5_1, gguf.TypeQ4_0}:
		return "kernel_attn_q5_1_q4_0", "kernel_attn_split_q5_1_q4_0", true
	case pair{gguf.TypeQ5_1, gguf.TypeQ4_1}:
		return "kernel_attn_q5_1_q4_1", "kernel_attn_split_q5_1_q4_1", true
	case pair{gguf.TypeQ5_1, gguf.TypeQ5_0}:
		return "kernel_attn_q5_1_q5_0", "kernel_attn_split_q5_1_q5_0", true
	case pair{gguf.TypeQ5_1, gguf.TypeQ5_1}:
		return "kernel_attn_q5_1_q5_1", "kernel_attn_split_q5_1_q5_1", true
	}
	return "", "", false
}
