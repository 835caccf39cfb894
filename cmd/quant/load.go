package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/kernels"
	"github.com/quant-llm/quant/internal/metal"
	"github.com/quant-llm/quant/internal/tokenizer"
)

// loadFlags are the model-loading flags shared by run, bench and ppl.
type loadFlags struct {
	backend string
	threads int
	ctx     int
	batch   int
	kvF32   bool
}

func (l *loadFlags) register(fs *pflag.FlagSet, defaultCtx, defaultBatch int) {
	fs.StringVar(&l.backend, "backend", "auto", "compute backend: auto, cpu or metal")
	fs.IntVarP(&l.threads, "threads", "t", runtime.NumCPU(), "CPU threads")
	fs.IntVarP(&l.ctx, "ctx-size", "c", defaultCtx, "context size in tokens (0 = the model's, at most 4096)")
	fs.IntVarP(&l.batch, "batch-size", "b", defaultBatch, "tokens evaluated per forward pass while processing a prompt")
	fs.BoolVar(&l.kvF32, "kv-f32", false, "keep the KV cache in F32 instead of F16")
}

// loaded is an open model ready to run.
type loaded struct {
	file    *gguf.File
	model   *engine.Model
	backend engine.Backend
	runner  *engine.Runner
	tok     *tokenizer.Tokenizer
}

func (l *loaded) Close() {
	l.backend.Close()
	l.file.Close()
}

// openModel maps the file, binds the model, picks the backend and
// allocates everything a forward pass needs.
func openModel(path string, lf loadFlags, allLogits bool, stderr io.Writer) (*loaded, error) {
	if lf.batch <= 0 {
		return nil, fmt.Errorf("batch size %d must be positive", lf.batch)
	}
	if lf.ctx < 0 {
		return nil, fmt.Errorf("context size %d must not be negative", lf.ctx)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	m, err := engine.LoadModel(f)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer: %w", path, err)
	}
	b, err := newBackend(lf, f, m, stderr)
	if err != nil {
		return nil, err
	}
	ctx := lf.ctx
	if ctx == 0 {
		ctx = m.Context
		if ctx <= 0 || ctx > 4096 {
			ctx = 4096
		}
	}
	prefault(f, stderr)
	opts := engine.Options{Context: ctx, Batch: lf.batch, CacheK: gguf.TypeF16, CacheV: gguf.TypeF16, AllLogits: allLogits}
	if lf.kvF32 {
		opts.CacheK, opts.CacheV = gguf.TypeF32, gguf.TypeF32
	}
	r, err := engine.NewRunner(m, b, opts)
	if err != nil && lf.backend == "auto" && b.Name() != "cpu" {
		// auto never fails for want of a GPU kernel: say so and use the CPU.
		fmt.Fprintf(stderr, "quant: %v; running on the CPU\n", err)
		b.Close()
		b = cpu.New(lf.threads)
		r, err = engine.NewRunner(m, b, opts)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ok = true
	return &loaded{file: f, model: m, backend: b, runner: r, tok: tok}, nil
}

// metalMinEmbd is the smallest model (by n_embd) that auto runs on Metal:
// below it the per-token dispatch overhead outweighs the GPU's bandwidth.
const metalMinEmbd = 2048

// newBackend resolves --backend. auto takes Metal where there is a device
// and the model is large enough to gain from it.
func newBackend(lf loadFlags, f *gguf.File, m *engine.Model, stderr io.Writer) (engine.Backend, error) {
	switch lf.backend {
	case "cpu":
		return cpu.New(lf.threads), nil
	case "metal":
		if !metal.Available() {
			return nil, fmt.Errorf("--backend metal: no Metal device on this machine (%s/%s)", runtime.GOOS, runtime.GOARCH)
		}
		return newMetal(f)
	case "auto":
		if metal.Available() && m.Embd >= metalMinEmbd {
			b, err := newMetal(f)
			if err == nil {
				return b, nil
			}
			fmt.Fprintf(stderr, "quant: Metal unavailable (%v); running on the CPU\n", err)
		}
		return cpu.New(lf.threads), nil
	}
	return nil, fmt.Errorf("unknown backend %q (want auto, cpu or metal)", lf.backend)
}

func newMetal(f *gguf.File) (engine.Backend, error) {
	dev, err := metal.NewDevice(kernels.Source(), kernels.Metallib())
	if err != nil {
		return nil, err
	}
	b, err := metal.New(dev, f)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return b, nil
}

// prefaultThreshold is the model size above which loading shows progress.
const prefaultThreshold = 256 << 20

// prefault reads one byte of every page of the mapping, so the first token
// does not pay for page faults, with a progress bar for large models.
func prefault(f *gguf.File, stderr io.Writer) {
	data := f.Bytes()
	var bar *progressbar.ProgressBar
	if len(data) > prefaultThreshold && isTerminal(stderr) {
		bar = progressbar.NewOptions64(int64(len(data)), progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("loading"), progressbar.OptionShowBytes(true),
			progressbar.OptionClearOnFinish())
	}
	const page, step = 4096, 64 << 20
	var sink byte
	for off := 0; off < len(data); off += step {
		end := min(off+step, len(data))
		for i := off; i < end; i += page {
			sink ^= data[i]
		}
		if bar != nil {
			bar.Add(end - off)
		}
	}
	if bar != nil {
		bar.Finish()
	}
	runtime.KeepAlive(sink)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
