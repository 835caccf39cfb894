package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/quant-llm/quant/internal/engine"
)

func newPPLCmd() *cobra.Command {
	var (
		lf     loadFlags
		file   string
		chunks int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ppl MODEL.gguf -f TEXT",
		Short: "Measure perplexity over a text file, as llama.cpp's perplexity tool does",
		Long: `Measure perplexity the way llama.cpp's llama-perplexity does, so the numbers compare:
the text is tokenized whole (with BOS), cut into chunks of -c tokens, each chunk is
evaluated from an empty cache with its first token replaced by BOS, and the second
half of every chunk is scored.`,
		Example: "  quant ppl model.gguf -f wiki.test.raw -c 512 --chunks 20",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("no text: give -f FILE")
			}
			text, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("text file: %w", err)
			}
			if lf.ctx <= 0 {
				return fmt.Errorf("context size -c %d must be positive", lf.ctx)
			}
			lf.batch = min(lf.batch, lf.ctx)
			stderr := cmd.ErrOrStderr()
			lm, err := openModel(args[0], lf, true, stderr)
			if err != nil {
				return err
			}
			defer lm.Close()
			tokens, err := lm.tok.Encode(string(text), true, false)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			cfg := engine.PerplexityConfig{Context: lf.ctx, Chunks: chunks, BOS: lm.tok.BOS(), AddBOS: lm.tok.AddBOS()}
			total := len(tokens) / lf.ctx
			if chunks > 0 {
				total = min(total, chunks)
			}
			out := cmd.OutOrStdout()
			var bar *progressbar.ProgressBar
			if isTerminal(stderr) {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("perplexity"), progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish())
			}
			if !asJSON {
				fmt.Fprintf(out, "%d tokens, %d chunks of %d, backend %s\n", len(tokens), total, lf.ctx, lm.backend.Name())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			start := time.Now()
			res, err := engine.Perplexity(ctx, lm.runner, tokens, cfg, func(chunk int, ppl float64) {
				if bar != nil {
					bar.Add(1)
				}
				if !asJSON {
					fmt.Fprintf(out, "[%d]%.4f,", chunk, ppl)
				}
			})
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					engine.PerplexityResult
					Model   string  `json:"model"`
					Backend string  `json:"backend"`
					Seconds float64 `json:"seconds"`
				}{res, args[0], lm.backend.Name(), time.Since(start).Seconds()})
			}
			fmt.Fprintf(out, "\nFinal estimate: PPL = %.4f +/- %.5f\n", res.PPL, res.StdErr)
			fmt.Fprintf(stderr, "%.1f s, %.1f tokens/s\n", time.Since(start).Seconds(), float64(len(res.Chunks)*lf.ctx)/time.Since(start).Seconds())
			return nil
		},
	}
	fs := cmd.Flags()
	lf.register(fs, 512, 2048)
	fs.StringVarP(&file, "file", "f", "", "text file to score")
	fs.IntVar(&chunks, "chunks", -1, "score at most this many chunks (-1 = all)")
	fs.BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}
