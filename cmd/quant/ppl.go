package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/quant-llm/quant/internal/engine"
)

// pplFlags are ppl's flags.
type pplFlags struct {
	load   loadFlags
	file   string
	chunks int
	asJSON bool
}

func newPPLCmd() *cobra.Command {
	var pf pplFlags
	cmd := &cobra.Command{
		Use:   "ppl MODEL.gguf -f TEXT",
		Short: "Measure perplexity over a text file, as llama.cpp's perplexity tool does",
		Long: `Measure perplexity the way llama.cpp's llama-perplexity does, so the numbers compare:
the text is tokenized whole (with BOS), cut into chunks of -c tokens, each chunk is
evaluated from an empty cache with its first token replaced by BOS, and the second
half of every chunk is scored. -c must be at least 3 (shorter chunks score nothing).
Logits that are not finite are an error naming the first bad position.

On a terminal the running values [1]..,[2].. are printed as llama-perplexity prints them;
when stdout goes to a file (or with --json) a progress bar shows on stderr instead.`,
		Example: "  quant ppl model.gguf -f wiki.test.raw -c 512 --chunks 20",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPerplexity(cmd, args[0], &pf)
		},
	}
	fs := cmd.Flags()
	pf.load.register(fs, 512, 2048)
	fs.StringVarP(&pf.file, "file", "f", "", "text file to score (- for stdin)")
	fs.IntVar(&pf.chunks, "chunks", -1, "score at most this many chunks (-1 = all)")
	fs.BoolVar(&pf.asJSON, "json", false, "print JSON for scripts")
	acceptLlamaFlags(cmd, llamaFlagAliases, cobra.ExactArgs(1))
	return cmd
}

// runPerplexity scores the text of pf.file with the model at path.
func runPerplexity(cmd *cobra.Command, path string, pf *pplFlags) error {
	lf := pf.load
	if pf.file == "" {
		return fmt.Errorf("no text: give -f FILE (- for stdin)")
	}
	if lf.nCtx < engine.MinPerplexityContext {
		return fmt.Errorf("-c %d: perplexity needs a context of at least %d tokens (the second half of each chunk, less its last token, is scored)", lf.nCtx, engine.MinPerplexityContext)
	}
	if pf.chunks == 0 || pf.chunks < -1 {
		return fmt.Errorf("--chunks %d: want -1 (all) or a positive number of chunks", pf.chunks)
	}
	if _, err := checkThreads(lf.threads); err != nil {
		return err
	}
	var text []byte
	var err error
	if pf.file == "-" {
		text, err = io.ReadAll(cmd.InOrStdin())
	} else {
		text, err = os.ReadFile(pf.file)
	}
	if err != nil {
		return fmt.Errorf("text file: %w", err)
	}
	lf.batch = min(lf.batch, lf.nCtx)
	stderr := cmd.ErrOrStderr()
	lm, err := openModel(path, lf, true, stderr)
	if err != nil {
		return err
	}
	defer lm.Close()
	tokens, err := lm.tok.Encode(string(text), true, false)
	if err != nil {
		return fmt.Errorf("%s: %w", pf.file, err)
	}
	cfg := engine.PerplexityConfig{Context: lf.nCtx, Chunks: max(pf.chunks, 0), BOS: lm.tok.BOS(), AddBOS: lm.tok.AddBOS()}
	total := len(tokens) / lf.nCtx
	if pf.chunks > 0 {
		total = min(total, pf.chunks)
	}
	out := cmd.OutOrStdout()
	// Either the values or a bar, never both on one terminal line.
	values := !pf.asJSON
	var bar *progressbar.ProgressBar
	if isTerminal(stderr) && !(values && isTerminal(out)) {
		bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("perplexity"), progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish())
	}
	if values {
		fmt.Fprintf(out, "%d tokens, %d chunks of %d, backend %s\n", len(tokens), total, lf.nCtx, lm.backend.Name())
	}
	in := newInterrupter()
	defer in.stop()
	ctx, done := in.begin(cmd.Context())
	defer done()
	start := time.Now()
	res, err := engine.Perplexity(ctx, lm.runner, tokens, cfg, func(chunk int, ppl float64) {
		if bar != nil {
			bar.Add(1)
		}
		if values {
			fmt.Fprintf(out, "[%d]%.4f,", chunk, ppl)
		}
	})
	if bar != nil {
		bar.Finish()
	}
	if values && len(res.Chunks) > 0 {
		fmt.Fprintln(out)
	}
	if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
		return fmt.Errorf("interrupted after %d of %d chunks", len(res.Chunks), total)
	}
	if err != nil {
		return err
	}
	if pf.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			engine.PerplexityResult
			Model   string  `json:"model"`
			Backend string  `json:"backend"`
			Seconds float64 `json:"seconds"`
		}{res, path, lm.backend.Name(), time.Since(start).Seconds()})
	}
	fmt.Fprintf(out, "Final estimate: PPL = %.4f +/- %.5f\n", res.PPL, res.StdErr)
	fmt.Fprintf(stderr, "%.1f s, %.1f tokens/s\n", time.Since(start).Seconds(), float64(len(res.Chunks)*lf.nCtx)/time.Since(start).Seconds())
	return nil
}
