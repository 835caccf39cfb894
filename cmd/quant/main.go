// Command quant runs GGUF language models: generate text, measure speed and
// measure perplexity, on the CPU or an Apple GPU.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	stop, err := startProfile(os.Getenv("QUANT_CPUPROFILE"))
	if err == nil {
		err = newRootCmd().Execute()
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quant: "+err.Error())
		os.Exit(1)
	}
}

// startProfile writes a CPU profile of the whole command to path (for go
// tool pprof) when path is set: where the time of a run, bench or ppl goes.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("QUANT_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("QUANT_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
