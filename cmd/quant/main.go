// Command quant runs GGUF language models: generate text, measure speed and
// measure perplexity, on the CPU or an Apple GPU.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "quant: "+err.Error())
		os.Exit(1)
	}
}
