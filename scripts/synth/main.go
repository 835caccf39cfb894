// Command synth writes a GGUF model with random weights (fixed seed) and the
// exact shapes, metadata, tensor-type mix and tokenizer size of a real one,
// so quant can be run and benchmarked at real sizes without downloads. The
// presets are llama-architecture models (SmolLM2, Llama 3.2) and Qwen3.5's
// hybrid DeltaNet/attention architecture (GGUF qwen35).
//
//	go run ./scripts/synth -preset smollm2-1.7b -type q4_k_m -o smollm2-1.7b-q4_k_m.gguf
//	go run ./scripts/synth -preset qwen3.5-4b -type q4_k_m -o qwen3.5-4b-q4_k_m.gguf
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	preset := flag.String("preset", "smollm2-135m", "model shape: "+strings.Join(presetNames(), ", "))
	typ := flag.String("type", "q4_k_m", "weight format: f16, q8_0 or q4_k_m (per-tensor types as llama.cpp writes them)")
	out := flag.String("o", "", "output .gguf file")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*preset, *typ, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "synth: "+err.Error())
		os.Exit(1)
	}
}

func run(presetName, typ, out string, seed uint64) error {
	p, ok := presets[presetName]
	if !ok {
		return fmt.Errorf("unknown preset %q (want one of %s)", presetName, strings.Join(presetNames(), ", "))
	}
	mix, ok := mixes[typ]
	if !ok {
		return fmt.Errorf("unknown type %q (want f16, q8_0 or q4_k_m)", typ)
	}
	if out == "" {
		return fmt.Errorf("no output file: give -o FILE")
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := write(f, p, mix, seed); err != nil {
		f.Close()
		os.Remove(out)
		return fmt.Errorf("write %s: %w", out, err)
	}
	return f.Close()
}

func presetNames() []string {
	var names []string
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
