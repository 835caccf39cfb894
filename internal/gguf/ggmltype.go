package gguf

import (
	"fmt"
	"strings"
)

// GGMLType is a ggml tensor element type, numbered as in ggml.h. The numbers
// are part of the file format and must never change.
type GGMLType uint32

const (
	TypeF32  GGMLType = 0
	TypeF16  GGMLType = 1
	TypeQ4_0 GGMLType = 2
	TypeQ4_1 GGMLType = 3
	TypeQ5_0 GGMLType = 6
	TypeQ5_1 GGMLType = 7
	TypeQ8_0 GGMLType = 8
	TypeQ8_1 GGMLType = 9
	TypeQ2_K GGMLType = 10
	TypeQ3_K GGMLType = 11
	TypeQ4_K GGMLType = 12
	TypeQ5_K GGMLType = 13
	TypeQ6_K GGMLType = 14
	TypeQ8_K GGMLType = 15
	TypeBF16 GGMLType = 30
)

// Block layouts, ggml's QK_* and sizeof(block_*): the values in one block
// and the bytes that store them.
const (
	QK8_0 = 32  // values per block of the 32-value types (Q4_0 ... Q8_1)
	QK_K  = 256 // values per K-quant super-block

	BlockQ4_0 = 2 + QK8_0/2                   // fp16 d, nibbles
	BlockQ4_1 = 2 + 2 + QK8_0/2               // fp16 d, fp16 m, nibbles
	BlockQ5_0 = 2 + 4 + QK8_0/2               // fp16 d, 32 high bits, nibbles
	BlockQ5_1 = 2 + 2 + 4 + QK8_0/2           // fp16 d, fp16 m, high bits, nibbles
	BlockQ8_0 = 2 + QK8_0                     // fp16 d, int8 values
	BlockQ8_1 = 2 + 2 + QK8_0                 // fp16 d, fp16 d*sum, int8 values
	BlockQ2_K = QK_K/16 + QK_K/4 + 2 + 2      // scales+mins, 2-bit quants, fp16 d, dmin
	BlockQ3_K = QK_K/8 + QK_K/4 + 12 + 2      // high-bit mask, 2-bit quants, 6-bit scales, fp16 d
	BlockQ4_K = 2 + 2 + 12 + QK_K/2           // fp16 d, dmin, 6-bit scales+mins, nibbles
	BlockQ5_K = 2 + 2 + 12 + QK_K/8 + QK_K/2  // as Q4_K plus a high-bit plane
	BlockQ6_K = QK_K/2 + QK_K/4 + QK_K/16 + 2 // low nibbles, high 2 bits, int8 scales, fp16 d
	BlockQ8_K = 4 + QK_K + QK_K/16*2          // f32 d, int8 values, int16 sums of 16
)

// typeTraits describes the storage of one type: BlockElems values are stored
// in BlockBytes bytes.
type typeTraits struct {
	name       string
	blockElems int
	blockBytes int
}

var traits = map[GGMLType]typeTraits{
	TypeF32:  {"F32", 1, 4},
	TypeF16:  {"F16", 1, 2},
	TypeBF16: {"BF16", 1, 2},
	TypeQ4_0: {"Q4_0", QK8_0, BlockQ4_0},
	TypeQ4_1: {"Q4_1", QK8_0, BlockQ4_1},
	TypeQ5_0: {"Q5_0", QK8_0, BlockQ5_0},
	TypeQ5_1: {"Q5_1", QK8_0, BlockQ5_1},
	TypeQ8_0: {"Q8_0", QK8_0, BlockQ8_0},
	TypeQ8_1: {"Q8_1", QK8_0, BlockQ8_1},
	TypeQ2_K: {"Q2_K", QK_K, BlockQ2_K},
	TypeQ3_K: {"Q3_K", QK_K, BlockQ3_K},
	TypeQ4_K: {"Q4_K", QK_K, BlockQ4_K},
	TypeQ5_K: {"Q5_K", QK_K, BlockQ5_K},
	TypeQ6_K: {"Q6_K", QK_K, BlockQ6_K},
	TypeQ8_K: {"Q8_K", QK_K, BlockQ8_K},
}

// Known reports whether quant knows the storage layout of t.
func (t GGMLType) Known() bool {
	_, ok := traits[t]
	return ok
}

func (t GGMLType) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockElems is the number of values in one block (1 for float types).
func (t GGMLType) BlockElems() int { return traits[t].blockElems }

// BlockBytes is the size in bytes of one block.
func (t GGMLType) BlockBytes() int { return traits[t].blockBytes }

// RowBytes is the size in bytes of n consecutive values. n must be a multiple
// of the block size.
func (t GGMLType) RowBytes(n int) (int, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("unsupported tensor type %s", t)
	}
	if n%tr.blockElems != 0 {
		return 0, fmt.Errorf("row of %d values is not a multiple of the %s block size %d", n, tr.name, tr.blockElems)
	}
	return n / tr.blockElems * tr.blockBytes, nil
}

// ParseType returns the type named s (case-insensitive, e.g. "q4_k").
func ParseType(s string) (GGMLType, error) {
	for t, tr := range traits {
		if strings.EqualFold(tr.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown tensor type %q", s)
}
