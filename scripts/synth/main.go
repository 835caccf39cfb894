// Command synth writes a GGUF model with random weights (fixed seed) and the
// exact shapes, metadata, tensor-type mix and tokenizer size of a real one,
// so quant can be run and benchmarked at real sizes without downloads. The
// presets are llama-architecture models (SmolLM2, Llama 3.2), Qwen3 and
// Qwen3.5's hybrid DeltaNet/attention architecture (GGUF qwen35); the
// generator is package internal/synth.
//
//	go run ./scripts/synth -preset smollm2-1.7b -type q4_k_m -o smollm2-1.7b-q4_k_m.gguf
//	go run ./scripts/synth -preset qwen3.5-4b -type q4_k_m -o qwen3.5-4b-q4_k_m.gguf
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/quant-llm/quant/internal/synth"
)

func main() {
	preset := flag.String("preset", "smollm2-135m", "model shape: "+strings.Join(synth.Presets(), ", "))
	typ := flag.String("type", "q4_k_m", "weight format: "+strings.Join(synth.Types(), ", ")+" (per-tensor types as llama.cpp writes them)")
	out := flag.String("o", "", "output .gguf file")
	seed := flag.Uint64("seed", 1, "random seed")
	zero := flag.Bool("zero", false, "all weights zero, written as holes of a sparse file: the shapes only, at once")
	flag.Parse()
	if err := run(*preset, *typ, *out, synth.Options{Seed: *seed, Zero: *zero}); err != nil {
		fmt.Fprintln(os.Stderr, "synth: "+err.Error())
		os.Exit(1)
	}
}

func run(preset, typ, out string, opts synth.Options) error {
	if out == "" {
		return fmt.Errorf("no output file: give -o FILE")
	}
	total, err := synth.Bytes(preset, typ)
	if err != nil {
		return err
	}
	bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("writing "+preset), progressbar.OptionShowBytes(true),
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))))
	defer bar.Finish()
	opts.Progress = func(n int) { bar.Add(n) }
	return synth.WriteFile(out, preset, typ, opts)
}
