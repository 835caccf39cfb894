package metal

import "unsafe"

// The kernels' constant arguments. Each mirrors a struct of the same name in
// internal/kernels/quant_args.h (fields of 4 bytes, in order); a test checks
// both layouts agree. They are passed with setBytes at [[buffer(0)]].

// GetRowsArgs: embedding lookup.
type GetRowsArgs struct {
	Ne0 int32  // values per row
	Nb1 uint32 // bytes per weight row
}

// RMSNormArgs: one threadgroup per group of Ne0 values.
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

// MulMVArgs: dst[r][o] = sum_i w[o][i] * x[r][i] for matrix-vector and
// matrix-matrix kernels alike.
type MulMVArgs struct {
	Ne00 int32  // columns (values per weight row)
	Ne01 int32  // weight rows
	Nb01 uint32 // bytes per weight row
	Ne11 int32  // activation rows
}

// CopyArgs: elementwise kernels over N values.
type CopyArgs struct {
	N int32
}

// BiasArgs: add a vector of Ne0 values to each of the N/Ne0 rows.
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
	Chunk    int32 // positions per split for the split kernels
}

// SplitHeadsArgs: per row, runs of Width values alternate between a and b.
type SplitHeadsArgs struct {
	Width  int32
	Ne0    int32 // values per row of a and b
	SrcNe0 int32 // values per row of src
	N      int32 // values of a (rows * Ne0)
}

// ConvArgs: causal depthwise convolution with SiLU over NRows rows of
// Channels values, with Kernel taps per channel.
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

// argBytes views an args struct as the bytes setBytes sends. Every field is
// 4 bytes and every target is little-endian, so Go's layout is the C one;
// TestArgsLayout checks it against the header.
func argBytes[T any](a *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(a)), unsafe.Sizeof(*a))
}
