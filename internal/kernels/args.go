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

// RopeArgs: rotary embedding of every head of every row, in place.
type RopeArgs struct {
	Ne0       int32 // values per row
	HeadDim   int32
	NDims     int32 // rotated dimensions per head
	Pos0      int32 // position of row 0
	FreqBase  float32
	FreqScale float32
	NeoX      int32
	HasFF     int32 // buffer 2 holds frequency factors
	// Sections of interleaved multimodal RoPE (all 0 otherwise): pairs
	// whose sector reads the e component do not rotate (engine.Rope.Rotates).
	Sec0, Sec1, Sec2, Sec3 int32
}

// MatMulArgs: dst[r][o] = sum_i w[o][i] * x[r][i], whichever kernel
// (matrix-vector or matrix-matrix) computes it.
type MatMulArgs struct {
	Ne00 int32  // columns (values per weight row)
	Ne01 int32  // weight rows
	Nb01 uint32 // bytes per weight row
	Ne11 int32  // activation rows
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

// CacheStoreArgs: N values (whole blocks) written into a KV cache, block i
// of them at block Block0+i from the bound offset, one thread per block.
type CacheStoreArgs struct {
	N      int32
	Block0 int32
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
	GetRowsArgs | RMSNormArgs | RopeArgs | MatMulArgs | ElementwiseArgs | BiasArgs |
		CacheStoreArgs | AttnArgs | SplitHeadsArgs | ConvArgs | DeltaArgs
}

// Bytes views a as the bytes the kernel reads. Every field is
// 4 bytes and every target is little-endian, so Go's layout is the C one.
func Bytes[T Args](a *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(a)), unsafe.Sizeof(*a))
}
