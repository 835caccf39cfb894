package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quant-llm/quant/internal/engine"
)

// benchFlags are llama-bench's test parameters: every list flag takes
// comma lists and ranges, and each combination is one test.
type benchFlags struct {
	load                                     loadFlags // backend and kv-f32
	models                                   []string
	prompts, gens, depths, batches, threads  *intList
	pgs                                      []string
	cacheK, cacheV, flash                    *stringList
	reps                                     int
	output                                   string
	asJSON                                   bool
	bandwidth                                bool
	defaultThreads                           int
	promptsDefault, batchDefault, ctkDefault bool
}

const defaultBenchBatch = 512

// benchFlagAliases are run's llama.cpp spellings and llama-bench's -pg.
var benchFlagAliases = map[string]string{"-pg": "--pg"}

func init() {
	for k, v := range llamaFlagAliases {
		benchFlagAliases[k] = v
	}
}

func newBenchCmd() *cobra.Command {
	bf := benchFlags{
		prompts: newIntList(512), gens: newIntList(128), depths: newIntList(0),
		batches: newIntList(defaultBenchBatch), threads: newIntList(runtime.NumCPU()),
		cacheK: &stringList{values: []string{"f16"}}, cacheV: &stringList{values: []string{"f16"}},
		flash: &stringList{values: []string{"auto"}}, defaultThreads: runtime.NumCPU(),
	}
	cmd := &cobra.Command{
		Use:   "bench MODEL.gguf [-p 512] [-n 128] [-pg 512,128] [-d 0] [-o md|csv|json|jsonl]",
		Short: "Measure prompt processing (pp) and generation (tg) speed, as llama-bench does",
		Long: `Measure speed as llama-bench does, with its flags and output formats, so scripts written
for llama-bench read quant's results. -p, -n, -d, -b, -t, -ctk, -ctv and -fa take comma
lists and ranges (1-4, 128-512*2, 100-300+100) and may be repeated; every combination is a
test. Each test runs once as a warm-up, then -r times from an empty cache: the depth (-d)
untimed, then the prompt in batches of -b and the generated tokens one at a time. t/s counts
the prompt and generated tokens of a test over its time.`,
		Example: `  quant bench model.gguf
  quant bench model.gguf -p 512 -n 128 -r 5 -t 1-4
  quant bench model.gguf -p 0 -n 128 -d 0,1024 -o json
  quant bench model.gguf -pg 512,128 -b 128-512*2 -o csv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			bf.models = append(args, bf.models...)
			return runBench(cmd, &bf)
		},
	}
	fs := cmd.Flags()
	bf.load.registerBackend(fs)
	fs.StringSliceVarP(&bf.models, "model", "m", nil, "model file (instead of or besides the argument; repeatable)")
	fs.VarP(bf.prompts, "n-prompt", "p", "prompt tokens of the pp tests (0 = none)")
	fs.VarP(bf.gens, "n-gen", "n", "generated tokens of the tg tests (0 = none)")
	fs.StringArrayVar(&bf.pgs, "pg", nil, "a prompt-then-generate test, PROMPT,GEN (-pg; repeatable)")
	fs.VarP(bf.depths, "n-depth", "d", "tokens already in the cache when a test starts")
	fs.VarP(bf.batches, "batch-size", "b", "tokens per forward pass while processing a prompt")
	fs.VarP(bf.threads, "threads", "t", "CPU threads (0 = one per core)")
	fs.Var(bf.cacheK, "cache-type-k", ctkUsage)
	fs.Var(bf.cacheV, "cache-type-v", ctvUsage)
	fs.Var(bf.flash, "flash-attn", faUsage)
	fs.IntVarP(&bf.reps, "repetitions", "r", 5, "repetitions of each test (after one warm-up)")
	fs.StringVarP(&bf.output, "output", "o", "md", "output format: md, csv, json or jsonl")
	fs.BoolVar(&bf.bandwidth, "bandwidth", false, "for tg tests, the bytes a decoded token reads and the GB/s that makes, next to the memory read bandwidth measured with the test's threads (CPU)")
	fs.BoolVar(&bf.asJSON, "json", false, "the same as -o json")
	fs.MarkHidden("json")
	acceptLlamaFlags(cmd, benchFlagAliases,
		func(cmd *cobra.Command, args []string) error {
			if len(args)+len(bf.models) == 0 {
				return fmt.Errorf("no model: give MODEL.gguf or -m MODEL.gguf")
			}
			return nil
		})
	return cmd
}

// benchCase is one test with the settings it runs under.
type benchCase struct {
	engine.BenchTest
	batch, threads     int
	cacheK, cacheV, fa string
}

// cases lists the tests in llama-bench's order: settings outermost, then
// for each depth the pp tests, the tg tests and the pg tests.
func (bf *benchFlags) cases() ([]benchCase, error) {
	var pairs [][2]int
	for _, pg := range bf.pgs {
		p, g, ok := strings.Cut(pg, ",")
		a, err1 := strconv.Atoi(p)
		b, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
			return nil, fmt.Errorf("-pg %q: want PROMPT,GEN", pg)
		}
		pairs = append(pairs, [2]int{a, b})
	}
	for _, b := range bf.batches.values {
		if b <= 0 {
			return nil, fmt.Errorf("-b %d: want 1 or more", b)
		}
	}
	var out []benchCase
	for _, b := range bf.batches.values {
		for _, k := range bf.cacheK.values {
			for _, v := range bf.cacheV.values {
				for _, fa := range bf.flash.values {
					for _, t := range bf.threads.values {
						for _, d := range bf.depths.values {
							add := func(p, n int) {
								if p+n > 0 {
									out = append(out, benchCase{engine.BenchTest{Prompt: p, Gen: n, Depth: d}, b, t, k, v, fa})
								}
							}
							for _, p := range bf.prompts.values {
								add(p, 0)
							}
							for _, n := range bf.gens.values {
								add(0, n)
							}
							for _, pg := range pairs {
								add(pg[0], pg[1])
							}
						}
					}
				}
			}
		}
	}
	return out, nil
}

func runBench(cmd *cobra.Command, bf *benchFlags) error {
	if bf.asJSON {
		bf.output = "json"
	}
	if bf.reps < 1 {
		return fmt.Errorf("-r %d: want 1 or more repetitions", bf.reps)
	}
	for _, t := range bf.threads.values {
		if _, err := checkThreads(t); err != nil {
			return err
		}
	}
	cases, err := bf.cases()
	if err != nil {
		return err
	}
	if len(cases) == 0 {
		return fmt.Errorf("no tests: -p, -n and -pg are all 0")
	}
	out := newBenchPrinter(bf.output, cmd.OutOrStdout(), bf)
	if out == nil {
		return fmt.Errorf("-o %q: want md, csv, json or jsonl", bf.output)
	}
	stderr := cmd.ErrOrStderr()
	in := newInterrupter()
	defer in.stop()
	ctx, done := in.begin(cmd.Context())
	defer done()
	build := readBuild()
	memRead := map[int]float64{} // measured read bandwidth by thread count
	headerDone := false
	for _, path := range bf.models {
		mf, err := openFile(path)
		if err != nil {
			return err
		}
		err = func() error {
			defer mf.Close()
			for _, c := range cases {
				lf := bf.load
				lf.batch, lf.threads, lf.cacheK, lf.cacheV, lf.flash = c.batch, c.threads, c.cacheK, c.cacheV, c.fa
				b, r, gpu, err := mf.newRunner(lf, c.Context(), false, stderr)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", path, c.Name(), err)
				}
				started := time.Now().UTC()
				res, err := engine.Bench(ctx, r, c.BenchTest, bf.reps)
				b.Close()
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted during %s", c.Name())
				}
				if err != nil {
					return err
				}
				threads, _ := checkThreads(c.threads)
				rec := newBenchRecord(build, mf, path, b.Name(), gpu, c, threads, r.Options(), started, res)
				if bf.bandwidth && c.Prompt == 0 {
					rec.addBandwidth(mf.model, r.Options(), memRead)
				}
				if !headerDone {
					out.header(rec)
					headerDone = true
				}
				out.row(rec)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	out.footer(build)
	return nil
}
