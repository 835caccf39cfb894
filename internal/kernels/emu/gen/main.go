// Command gen writes the emulator's kernel glue (glue_*_gen.cpp) from the
// .metal sources. Run it from internal/kernels/emu: go generate, or go run ./gen.
package main

import (
	"log"
	"os"

	"github.com/quant-llm/quant/internal/kernels/emu"
)

func main() {
	files, err := emu.GeneratedGlue(".")
	if err != nil {
		log.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(name, src, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
