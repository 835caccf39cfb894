package main

import (
	"fmt"
	"strings"

	"github.com/quant-llm/quant/internal/gguf"
)

// modelType describes a model as llama.cpp's llama_model_desc does, for
// llama-bench's model column: "llama 1.7B Q4_K - Medium". llama.cpp names
// the size from a table of known layer counts ("?B" for others); quant
// names it from the parameter count.
func modelType(f *gguf.File) string {
	return fmt.Sprintf("%s %s %s", f.Architecture(), sizeLabel(f.ParamCount()), fileTypeName(f))
}

// sizeLabel rounds a parameter count as model names do: 135M, 1.7B, 8B.
func sizeLabel(n uint64) string {
	switch {
	case n >= 1e9:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/1e9), ".0") + "B"
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.0fK", float64(n)/1e3)
}

// ftypeNames are llama.cpp's names of general.file_type values.
var ftypeNames = map[int64]string{
	0: "all F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1, some F16", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K - Medium", 11: "Q3_K - Small", 12: "Q3_K - Medium", 13: "Q3_K - Large",
	14: "Q4_K - Small", 15: "Q4_K - Medium", 16: "Q5_K - Small", 17: "Q5_K - Medium", 18: "Q6_K",
	19: "IQ2_XXS - 2.0625 bpw", 20: "IQ2_XS - 2.3125 bpw", 21: "Q2_K - Small", 22: "IQ3_XS - 3.3 bpw",
	23: "IQ3_XXS - 3.0625 bpw", 24: "IQ1_S - 1.5625 bpw", 25: "IQ4_NL - 4.5 bpw", 26: "IQ3_S - 3.4375 bpw",
	27: "IQ3_S mix - 3.66 bpw", 28: "IQ2_S - 2.5 bpw", 29: "IQ2_M - 2.7 bpw", 30: "IQ4_XS - 4.25 bpw",
	31: "IQ1_M - 1.75 bpw", 32: "BF16", 36: "TQ1_0 - 1.69 bpw ternary", 37: "TQ2_0 - 2.06 bpw ternary",
}

// guessedFtype is llama.cpp's guess of the file type from the commonest
// tensor type when general.file_type is missing.
var guessedFtype = map[gguf.GGMLType]int64{
	gguf.TypeF32: 0, gguf.TypeF16: 1, gguf.TypeBF16: 32, gguf.TypeQ4_0: 2, gguf.TypeQ4_1: 3,
	gguf.TypeQ5_0: 8, gguf.TypeQ5_1: 9, gguf.TypeQ8_0: 7, gguf.TypeQ2_K: 10, gguf.TypeQ3_K: 12,
	gguf.TypeQ4_K: 15, gguf.TypeQ5_K: 17, gguf.TypeQ6_K: 18,
}

// fileTypeName names general.file_type as llama.cpp does, guessing it (and
// saying so) when the key is missing.
func fileTypeName(f *gguf.File) string {
	if ft, ok := f.Int("general.file_type"); ok {
		if name, ok := ftypeNames[ft&^1024]; ok {
			return name
		}
		return "unknown, may not work"
	}
	counts := map[gguf.GGMLType]int{}
	var common gguf.GGMLType
	for i := range f.Tensors {
		t := f.Tensors[i].Type
		counts[t]++
		if counts[t] > counts[common] || (counts[t] == counts[common] && t < common) {
			common = t
		}
	}
	if ft, ok := guessedFtype[common]; ok {
		return "(guessed) " + ftypeNames[ft]
	}
	return "unknown, may not work"
}
