package kernels

import "unsafe"

// The Go side of quant_args.h: its launch shapes and, field by field, its
// argument structs (TestArgsMirrorHeader checks both against the header).
// A struct is bound at [[buffer(0)]] in the constant address space, ahead
// of the kernel's buffers at 1, 2, ...; the header states each kernel's
// buffers and grid.

// Launch shapes the kernels are written for.
const (
	MVRowsPerSG  = 4   // QUANT_MV_ROWS_PER_SG: mul_mv's weight rows per simdgroup (float and 32-value block types)
	MVRowsPerSGK = 2   // QUANT_MV_ROWS_PER_SG_K: mul_mv's weight rows per simdgroup (256-value block types)
	MVSG         = 2   // QUANT_MV_SG: simdgroups per threadgroup of mul_mv and mul_mv_batch
	MVBatch      = 8   // QUANT_MV_BATCH: mul_mv_batch's activation rows per threadgroup
	AttnChunk    = 256 // QUANT_ATTN_CHUNK: positions per threadgroup of split attention
	AttnSG       = 4   // QUANT_ATTN_SG: simdgroups per threadgroup of attention
	AttnRows     = 8   // QUANT_ATTN_ROWS: query rows per threadgroup of (prefill) attention
	AttnKeys     = 32  // QUANT_ATTN_KEYS: keys per tile of (prefill) attention, half as many past heads of 128 values
)

// mul_mm's launch shape.
const (
	MMRows    = 64   // QUANT_MM_ROWS: the weight rows of an output tile
	MMCols    = 32   // QUANT_MM_COLS: the activation rows of an output tile
	MMThreads = 128  // QUANT_MM_THREADS: threads per threadgroup
	MMTGW     = 8192 // QUANT_MM_TG_W: bytes of threadgroup(0)
	MMTGX     = 4096 // QUANT_MM_TG_X: bytes of threadgroup(1)
)

// SIMDWidth is the number of threads in a simdgroup on Apple GPUs, which
// the kernels' reductions assume.
const SIMDWidth = 32

// MVThreads is the threadgroup size of mul_mv and mul_mv_batch.
const MVThreads = SIMDWidth * MVSG

// GetRowsArgs describes an embedding table: rows of Ne0 values, Nb1 bytes
// apart.
type GetRowsArgs struct {
	Ne0 int32  // values per row
	Nb1 uint32 // bytes per weight row
}

// RMSNormArgs: groups of Ne0 values (a row, or a head), one threadgroup each.
type RMSNormArgs struct {
	Ne0 int32
	Eps float32
}

// RopeStoreArgs: the rotation (after a per-head RMSNorm when HasNorm) of
// every head of q and k, and the store of k and v into the KV cache.
type RopeStoreArgs struct {
	HeadDim   int32
	NDims     int32 // rotated dimensions per head
	NHeads    int32 // of q
	NKVHeads  int32 // of k and v
	Pos0      int32 // position of row 0
	FreqBase  float32
	FreqScale float32
	NeoX      int32
	HasFF     int32 // buffer 4 holds frequency factors
	// Sections of interleaved multimodal RoPE (all 0 otherwise): pairs
	// whose sector reads the e component do not rotate (engine.Rope.Rotates).
	Sec0, Sec1, Sec2, Sec3 int32
	HasNorm                int32 // buffers 5 and 6 hold the q and k heads' norm weights
	Eps                    float32
	KType, VType           int32 // the caches' ggml types
}

// MatMulArgs: dst[r][o] = sum_i w[o][i] * x[r][i], whichever kernel
// (matrix-vector or matrix-matrix) computes it.
type MatMulArgs struct {
	Ne00 int32  // columns (values per weight row)
	Ne01 int32  // weight rows
	Nb01 uint32 // bytes per weight row
	Ne11 int32  // activation rows
}

// The epilogues of the fused mat-vec (FusedMVArgs.Op).
const (
	MVStore  = 0 // QUANT_MV_STORE: dst = w.x
	MVAdd    = 1 // QUANT_MV_ADD: dst += w.x
	MVSwiGLU = 2 // QUANT_MV_SWIGLU: dst = silu(w0.x) * (w1.x)
)

// FusedMVArgs: one activation row times up to three weights of one type
// (parts), with an epilogue; part p's threadgroups start at TgP.
type FusedMVArgs struct {
	Ne00   int32
	Op     int32
	Ne01_0 int32
	Nb01_0 uint32
	Ne01_1 int32
	Nb01_1 uint32
	Tg_1   int32
	Ne01_2 int32
	Nb01_2 uint32
	Tg_2   int32
	// The parts' ggml types, read by kernel_mul_mv_fused_mixed.
	Type_0, Type_1, Type_2 int32
}

// ElementwiseArgs: N values, one thread each.
type ElementwiseArgs struct {
	N int32
}

// BiasArgs: a vector of Ne0 values added to each of the N/Ne0 rows.
type BiasArgs struct {
	Ne0 int32
	N   int32
}

// AttnArgs: causal attention of NRows query rows (row r at position Pos0+r)
// over the KV cache.
type AttnArgs struct {
	NHeads   int32
	NKVHeads int32
	HeadDim  int32
	KVDim    int32 // values per cache row (NKVHeads*HeadDim)
	Pos0     int32
	NRows    int32
	Scale    float32
	Chunk    int32 // positions per threadgroup of the split kernels
}

// AttnMemory is the threadgroup memory of kernel_attn_* (prefill) for heads
// of headDim values, in bytes, for threadgroup(0), (1) and (2): the rounded
// q of AttnRows rows, a tile of keys or values, their probabilities.
func AttnMemory(headDim int) []int {
	d, t := attnDim8(headDim), AttnTileKeys(headDim)
	return []int{4 * AttnRows * d, 4 * t * (d + 4), 4 * AttnRows * t}
}

// AttnSplitMemory is the threadgroup memory of kernel_attn_split_*
// (decode) for heads of headDim values, in bytes, for threadgroup(0) and
// (1): the rounded q, and each simdgroup's maximum, sum and outputs.
func AttnSplitMemory(headDim int) []int {
	d := attnDim8(headDim)
	return []int{4 * d, 4 * AttnSG * (d + 2)}
}

// AttnTileKeys is the number of keys per tile of kernel_attn_* for heads
// of headDim values (attn_tile_keys).
func AttnTileKeys(headDim int) int {
	if headDim <= 128 {
		return AttnKeys
	}
	return AttnKeys / 2
}

// attnDim8 is headDim rounded up to a multiple of 8, the stride of the
// attention kernels' q and tiles (attn_dim8).
func attnDim8(headDim int) int { return (headDim + 7) &^ 7 }

// SplitHeadsArgs: per row, runs of Width values alternate between a and b.
type SplitHeadsArgs struct {
	Width  int32
	Ne0    int32 // values per row of a and b
	SrcNe0 int32 // values per row of src
	N      int32 // values of a (rows * Ne0)
}

// ConvArgs: causal depthwise convolution with SiLU over NRows rows of
// Channels values.
type ConvArgs struct {
	Channels int32
	Taps     int32 // per channel
	NRows    int32
}

// DeltaArgs: the gated delta rule over NRows rows.
type DeltaArgs struct {
	KHeads   int32
	VHeads   int32
	StateDim int32
	NRows    int32
	Eps      float32 // lower bound of the q and k norms
	Scale    float32 // of the outputs: 1/sqrt(StateDim)
}

// Args is any of the argument structs.
type Args interface {
	GetRowsArgs | RMSNormArgs | RopeStoreArgs | MatMulArgs | FusedMVArgs | ElementwiseArgs | BiasArgs |
		AttnArgs | SplitHeadsArgs | ConvArgs | DeltaArgs
}

// Bytes views a as the bytes the kernel reads. Every field is
// 4 bytes and every target is little-endian, so Go's layout is the C one.
func Bytes[T Args](a *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(a)), unsafe.Sizeof(*a))
}
