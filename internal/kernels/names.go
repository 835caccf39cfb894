package kernels

import "github.com/quant-llm/quant/internal/gguf"

// WeightKernels names the kernels that read a weight type's rows, in its
// ggml block layout.
type WeightKernels struct {
	GetRows    string // embedding lookup (GetRowsArgs)
	MulMV      string // matrix x vector, one activation row per threadgroup (MatMulArgs)
	MulMVBatch string // matrix x vector, up to MVBatch activation rows sharing each weight read (MatMulArgs)
	MulMM      string // matrix x matrix, for batches (MatMulArgs)
	MulMVRows  int    // MulMV's weight rows per simdgroup: MVRowsPerSG or MVRowsPerSGK
}

// ForWeight returns the kernels of weight type t; false when the kernels
// cannot read t.
func ForWeight(t gguf.GGMLType) (WeightKernels, bool) {
	switch t {
	case gguf.TypeF32:
		return WeightKernels{"kernel_get_rows_f32", "kernel_mul_mv_f32", "kernel_mul_mv_batch_f32", "kernel_mul_mm_f32", MVRowsPerSG}, true
	case gguf.TypeF16:
		return WeightKernels{"kernel_get_rows_f16", "kernel_mul_mv_f16", "kernel_mul_mv_batch_f16", "kernel_mul_mm_f16", MVRowsPerSG}, true
	case gguf.TypeBF16:
		return WeightKernels{"kernel_get_rows_bf16", "kernel_mul_mv_bf16", "kernel_mul_mv_batch_bf16", "kernel_mul_mm_bf16", MVRowsPerSG}, true
	case gguf.TypeQ4_0:
		return WeightKernels{"kernel_get_rows_q4_0", "kernel_mul_mv_q4_0", "kernel_mul_mv_batch_q4_0", "kernel_mul_mm_q4_0", MVRowsPerSG}, true
	case gguf.TypeQ4_1:
		return WeightKernels{"kernel_get_rows_q4_1", "kernel_mul_mv_q4_1", "kernel_mul_mv_batch_q4_1", "kernel_mul_mm_q4_1", MVRowsPerSG}, true
	case gguf.TypeQ5_0:
		return WeightKernels{"kernel_get_rows_q5_0", "kernel_mul_mv_q5_0", "kernel_mul_mv_batch_q5_0", "kernel_mul_mm_q5_0", MVRowsPerSG}, true
	case gguf.TypeQ5_1:
		return WeightKernels{"kernel_get_rows_q5_1", "kernel_mul_mv_q5_1", "kernel_mul_mv_batch_q5_1", "kernel_mul_mm_q5_1", MVRowsPerSG}, true
	case gguf.TypeQ8_0:
		return WeightKernels{"kernel_get_rows_q8_0", "kernel_mul_mv_q8_0", "kernel_mul_mv_batch_q8_0", "kernel_mul_mm_q8_0", MVRowsPerSG}, true
	case gguf.TypeQ2_K:
		return WeightKernels{"kernel_get_rows_q2_K", "kernel_mul_mv_q2_K", "kernel_mul_mv_batch_q2_K", "kernel_mul_mm_q2_K", MVRowsPerSGK}, true
	case gguf.TypeQ3_K:
		return WeightKernels{"kernel_get_rows_q3_K", "kernel_mul_mv_q3_K", "kernel_mul_mv_batch_q3_K", "kernel_mul_mm_q3_K", MVRowsPerSGK}, true
	case gguf.TypeQ4_K:
		return WeightKernels{"kernel_get_rows_q4_K", "kernel_mul_mv_q4_K", "kernel_mul_mv_batch_q4_K", "kernel_mul_mm_q4_K", MVRowsPerSGK}, true
	case gguf.TypeQ5_K:
		return WeightKernels{"kernel_get_rows_q5_K", "kernel_mul_mv_q5_K", "kernel_mul_mv_batch_q5_K", "kernel_mul_mm_q5_K", MVRowsPerSGK}, true
	case gguf.TypeQ6_K:
		return WeightKernels{"kernel_get_rows_q6_K", "kernel_mul_mv_q6_K", "kernel_mul_mv_batch_q6_K", "kernel_mul_mm_q6_K", MVRowsPerSGK}, true
	}
	return WeightKernels{}, false
}

// CacheKernels names the kernels that write and attend over a KV cache
// whose rows are stored as one type.
type CacheKernels struct {
	Store       string // F32 rows into the cache (ElementwiseArgs)
	Attend      string // AttnArgs
	AttendSplit string // one decode row, in chunks of AttnArgs.Chunk positions
}

// ForCache returns the kernels of a KV cache stored as t; false when the
// kernels cannot store t.
func ForCache(t gguf.GGMLType) (CacheKernels, bool) {
	switch t {
	case gguf.TypeF32:
		return CacheKernels{"kernel_cpy_f32_f32", "kernel_attn_f32", "kernel_attn_split_f32"}, true
	case gguf.TypeF16:
		return CacheKernels{"kernel_cpy_f32_f16", "kernel_attn_f16", "kernel_attn_split_f16"}, true
	}
	return CacheKernels{}, false
}
