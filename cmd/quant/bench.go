package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/quant-llm/quant/internal/engine"
)

func newBenchCmd() *cobra.Command {
	var (
		lf         loadFlags
		pp, tg, rp int
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "bench MODEL.gguf",
		Short: "Measure prompt processing (pp) and generation (tg) speed, like llama-bench",
		Example: `  quant bench model.gguf
  quant bench model.gguf -p 512 -n 128 -r 5 --threads 2 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pp < 0 || tg < 0 || rp < 1 {
				return fmt.Errorf("-p %d, -n %d, -r %d: want -p, -n >= 0 and -r >= 1", pp, tg, rp)
			}
			if lf.ctx == 0 {
				lf.ctx = max(pp, tg, 1)
			}
			lm, err := openModel(args[0], lf, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer lm.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var results []engine.BenchResult
			for _, t := range []struct {
				n   int
				run func() (engine.BenchResult, error)
			}{
				{pp, func() (engine.BenchResult, error) { return engine.BenchPrompt(ctx, lm.runner, pp, rp) }},
				{tg, func() (engine.BenchResult, error) { return engine.BenchGenerate(ctx, lm.runner, tg, rp) }},
			} {
				if t.n == 0 {
					continue
				}
				res, err := t.run()
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			row := benchRow{Model: filepath.Base(args[0]), Arch: lm.model.Arch, SizeBytes: lm.file.Size,
				Params: lm.file.ParamCount(), Backend: lm.backend.Name(), Threads: lf.threads, Results: results}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(row)
			}
			printBenchTable(cmd.OutOrStdout(), row)
			return nil
		},
	}
	fs := cmd.Flags()
	lf.register(fs, 0, 512)
	fs.IntVarP(&pp, "n-prompt", "p", 512, "prompt tokens for the pp test (0 = skip)")
	fs.IntVarP(&tg, "n-gen", "n", 128, "generated tokens for the tg test (0 = skip)")
	fs.IntVarP(&rp, "repetitions", "r", 5, "repetitions of each test (after one warm-up)")
	fs.BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

type benchRow struct {
	Model     string               `json:"model"`
	Arch      string               `json:"arch"`
	SizeBytes uint64               `json:"size_bytes"`
	Params    uint64               `json:"params"`
	Backend   string               `json:"backend"`
	Threads   int                  `json:"threads"`
	Results   []engine.BenchResult `json:"results"`
}

func printBenchTable(w io.Writer, r benchRow) {
	gpu := len(r.Results) > 0 && r.Results[0].GPUBusy > 0
	header, rule := "| model | size | params | backend | threads | test | t/s |", "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
	if gpu {
		header, rule = header+" GPU ms/token | GPU busy |", rule+" ---: | ---: |"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, rule)
	for _, res := range r.Results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s | %.2f ± %.2f |", r.Model, humanBytes(r.SizeBytes),
			humanCount(r.Params), r.Backend, r.Threads, res.Test, res.Mean, res.StdDev)
		if gpu {
			fmt.Fprintf(w, " %.2f | %.0f%% |", res.GPUMsPerToken, 100*res.GPUBusy)
		}
		fmt.Fprintln(w)
	}
}
