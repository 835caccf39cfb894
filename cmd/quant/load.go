package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/engine"
	"github.com/quant-llm/quant/internal/gguf"
	"github.com/quant-llm/quant/internal/metal"
	"github.com/quant-llm/quant/internal/tokenizer"
)

// loadFlags are the model-loading flags shared by run, bench and ppl.
type loadFlags struct {
	backend        string
	threads        int
	nCtx           int
	batch          int
	cacheK, cacheV string
	flash          string
	kvF32          bool
}

// registerBackend adds the flags that choose the backend.
func (l *loadFlags) registerBackend(fs *pflag.FlagSet) {
	fs.StringVar(&l.backend, "backend", "auto", "compute backend: auto, cpu or metal")
	fs.BoolVar(&l.kvF32, "kv-f32", false, "keep the KV cache in F32 (the same as -ctk f32 -ctv f32)")
	fs.MarkHidden("kv-f32")
}

// Help texts of the cache flags, shared with bench's list versions.
var (
	ctkUsage = "KV cache type of the keys (-ctk): " + cacheTypeNames()
	ctvUsage = "KV cache type of the values (-ctv): " + cacheTypeNames()
	faUsage  = "flash attention (-fa): on, off, or auto (on where the cache types need it)"
)

func (l *loadFlags) register(fs *pflag.FlagSet, defaultCtx, defaultBatch int) {
	l.registerBackend(fs)
	fs.StringVar(&l.cacheK, "cache-type-k", "f16", ctkUsage)
	fs.StringVar(&l.cacheV, "cache-type-v", "f16", ctvUsage)
	fs.StringVar(&l.flash, "flash-attn", "auto", faUsage)
	fs.IntVarP(&l.threads, "threads", "t", runtime.NumCPU(), "CPU threads (0 = one per core)")
	fs.IntVarP(&l.nCtx, "ctx-size", "c", defaultCtx, "context size in tokens (0 = the model's, at most 4096)")
	fs.IntVarP(&l.batch, "batch-size", "b", defaultBatch, "tokens evaluated per forward pass while processing a prompt")
}

// llamaFlagAliases are llama.cpp's multi-letter single-dash flags.
var llamaFlagAliases = map[string]string{"-ctk": "--cache-type-k", "-ctv": "--cache-type-v", "-fa": "--flash-attn"}

func cacheTypeNames() string {
	var names []string
	for _, t := range cpu.CacheTypes {
		names = append(names, cacheTypeName(t))
	}
	return strings.Join(names, ", ")
}

// checkThreads validates -t: 0 means one thread per core.
func checkThreads(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("--threads %d: want 1 or more (0 = one per core)", n)
	case n == 0:
		return runtime.NumCPU(), nil
	}
	return n, nil
}

// options turns the flags into engine options for a context of nCtx tokens.
func (l loadFlags) options(nCtx int, allLogits bool) (engine.Options, error) {
	opts := engine.Options{Context: nCtx, Batch: l.batch, AllLogits: allLogits}
	if l.batch <= 0 {
		return opts, fmt.Errorf("batch size %d must be positive", l.batch)
	}
	var err error
	if opts.CacheK, err = parseCacheType("-ctk", l.cacheK); err != nil {
		return opts, err
	}
	if opts.CacheV, err = parseCacheType("-ctv", l.cacheV); err != nil {
		return opts, err
	}
	if l.kvF32 {
		opts.CacheK, opts.CacheV = gguf.TypeF32, gguf.TypeF32
	}
	plain := opts.CacheK == opts.CacheV && (opts.CacheK == gguf.TypeF32 || opts.CacheK == gguf.TypeF16)
	switch l.flash {
	case "on", "1":
		opts.FlashAttention = true
	case "auto":
	case "off", "0":
		if !plain {
			return opts, fmt.Errorf("-fa off: a %s/%s KV cache needs flash attention (-fa on or auto)", l.cacheK, l.cacheV)
		}
	default:
		return opts, fmt.Errorf("-fa %q: want on, off or auto", l.flash)
	}
	return opts, nil
}

func parseCacheType(flag, name string) (gguf.GGMLType, error) {
	t, err := gguf.ParseType(name)
	if err == nil && slices.Contains(cpu.CacheTypes, t) {
		return t, nil
	}
	return 0, fmt.Errorf("%s %s: want one of %s", flag, name, cacheTypeNames())
}

// modelFile is a mapped model with its tokenizer, before any backend.
type modelFile struct {
	model *engine.Model
	tok   *tokenizer.Tokenizer
}

func openFile(path string) (*modelFile, error) {
	m, err := engine.Open(path)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(m.File)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: tokenizer: %w", path, err)
	}
	return &modelFile{model: m, tok: tok}, nil
}

func (mf *modelFile) Close() { mf.model.Close() }

// loaded is an open model ready to run.
type loaded struct {
	*modelFile
	backend engine.Backend
	runner  *engine.Runner
}

func (l *loaded) Close() {
	l.backend.Close()
	l.modelFile.Close()
}

// openModel maps the file, binds the model, picks the backend and
// allocates everything a forward pass needs, for run and ppl.
func openModel(path string, lf loadFlags, allLogits bool, stderr io.Writer) (*loaded, error) {
	if lf.nCtx < 0 {
		return nil, fmt.Errorf("context size %d must not be negative", lf.nCtx)
	}
	mf, err := openFile(path)
	if err != nil {
		return nil, err
	}
	m := mf.model
	nCtx := lf.nCtx
	if nCtx == 0 {
		nCtx = m.Context
		if nCtx <= 0 || nCtx > 4096 {
			nCtx = 4096
		}
	}
	b, r, _, err := mf.newRunner(lf, nCtx, allLogits, stderr)
	if err != nil {
		mf.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Context > 0 && nCtx > m.Context {
		fmt.Fprintf(stderr, "quant: warning: a context of %d tokens is longer than the %d the model was trained on; expect worse output past %d\n", nCtx, m.Context, m.Context)
	}
	return &loaded{modelFile: mf, backend: b, runner: r}, nil
}

// newRunner picks the backend and allocates a runner for a context of nCtx
// tokens, after checking that the memory it needs is there. Its backend is
// Interruptible: cancelling a running call stops it within one operation.
// The GPU's name is returned too ("" on the CPU).
func (mf *modelFile) newRunner(lf loadFlags, nCtx int, allLogits bool, stderr io.Writer) (engine.Backend, *engine.Runner, string, error) {
	threads, err := checkThreads(lf.threads)
	if err != nil {
		return nil, nil, "", err
	}
	lf.threads = threads
	opts, err := lf.options(nCtx, allLogits)
	if err != nil {
		return nil, nil, "", err
	}
	if err := checkMemory(engine.MemoryNeeded(mf.model, opts, threads), nCtx); err != nil {
		return nil, nil, "", err
	}
	b, gpu, err := newBackend(lf, mf.model, stderr)
	if err != nil {
		return nil, nil, "", err
	}
	prefault(mf.model.File, stderr)
	r, err := engine.NewRunner(mf.model, engine.Interruptible(b), opts)
	if err != nil && lf.backend == "auto" && b.Name() != "cpu" {
		// auto never fails for want of a GPU kernel: say so and use the CPU.
		fmt.Fprintf(stderr, "quant: %v; running on the CPU\n", err)
		b.Close()
		b, gpu = cpu.New(lf.threads), ""
		r, err = engine.NewRunner(mf.model, engine.Interruptible(b), opts)
	}
	if err != nil {
		b.Close()
		return nil, nil, "", err
	}
	if gpu != "" {
		fmt.Fprintf(stderr, "quant: Metal on %s\n", gpu)
	}
	fmt.Fprintln(stderr, "quant: "+memoryLine(mf.model, opts))
	return b, r, gpu, nil
}

// memoryLine says what a runner keeps per sequence, as llama.cpp's log
// does at load: the KV cache's size and types, and a hybrid model's
// recurrent state.
func memoryLine(m *engine.Model, opts engine.Options) string {
	const mib = 1 << 20
	var parts []string
	if layers := m.AttentionLayers(); layers > 0 {
		k, v := engine.KVCacheBytes(&m.Config, opts.Context, opts.CacheK, opts.CacheV)
		parts = append(parts, fmt.Sprintf("KV cache %.2f MiB (%d tokens, %d layers, K %s: %.2f MiB, V %s: %.2f MiB)",
			(k+v)/mib, opts.Context, layers, cacheTypeName(opts.CacheK), k/mib, cacheTypeName(opts.CacheV), v/mib))
	}
	if s := engine.RecurrentStateBytes(&m.Config); s > 0 {
		parts = append(parts, fmt.Sprintf("recurrent state %.2f MiB (%d layers)", s/mib, m.Config.Layers-m.AttentionLayers()))
	}
	return strings.Join(parts, "; ")
}

// cacheTypeName is a cache type as -ctk/-ctv and llama.cpp spell it.
func cacheTypeName(t gguf.GGMLType) string { return strings.ToLower(t.String()) }

// allocLimit is what a Go slice can hold at most on 64-bit machines; it
// bounds requests where the available memory is unknown.
const allocLimit = 1 << 47

// checkMemory refuses a context whose KV cache and buffers cannot be
// allocated, with one line saying what it needs and what fits.
func checkMemory(need engine.Memory, nCtx int) error {
	avail, known := availableMemory()
	limit := float64(allocLimit)
	if known {
		limit = min(limit, float64(avail))
	}
	if need.Total() <= limit {
		return nil
	}
	where := "this machine can allocate"
	if known {
		where = "is available"
	}
	fits := need.MaxContext(limit)
	if fits == 0 {
		return fmt.Errorf("a context of %d tokens needs %s of memory (%s of it the KV cache); %s %s, not enough for any context",
			nCtx, humanSize(need.Total()), humanSize(need.KV), humanSize(limit), where)
	}
	return fmt.Errorf("a context of %d tokens needs %s of memory (%s of it the KV cache); %s %s, which fits a context of %d tokens at most",
		nCtx, humanSize(need.Total()), humanSize(need.KV), humanSize(limit), where, fits)
}

// metalMinEmbd is the smallest model (by n_embd) that auto runs on Metal:
// below it the per-token dispatch overhead outweighs the GPU's bandwidth.
const metalMinEmbd = 2048

// newBackend resolves --backend. auto takes Metal where there is a device
// and the model is large enough to gain from it. It returns the GPU's name
// ("" for the CPU).
func newBackend(lf loadFlags, m *engine.Model, stderr io.Writer) (engine.Backend, string, error) {
	switch lf.backend {
	case "cpu":
		return cpu.New(lf.threads), "", nil
	case "metal":
		if !metal.Available() {
			return nil, "", fmt.Errorf("--backend metal: no Metal device on this machine (%s/%s)", runtime.GOOS, runtime.GOARCH)
		}
		return newMetal(m.File)
	case "auto":
		if metal.Available() && m.Embd >= metalMinEmbd {
			b, name, err := newMetal(m.File)
			if err == nil {
				return b, name, nil
			}
			fmt.Fprintf(stderr, "quant: Metal unavailable (%v); running on the CPU\n", err)
		}
		return cpu.New(lf.threads), "", nil
	}
	return nil, "", fmt.Errorf("unknown backend %q (want auto, cpu or metal)", lf.backend)
}

func newMetal(f *gguf.File) (engine.Backend, string, error) {
	dev, err := metal.NewDevice()
	if err != nil {
		return nil, "", err
	}
	b, err := metal.New(dev, f)
	if err != nil {
		dev.Close()
		return nil, "", err
	}
	return b, dev.Name(), nil
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
