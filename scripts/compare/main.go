// Command compare runs quant bench and llama-bench on the same files,
// interleaved in one run, and prints each test's tok/s side by side with
// the ratio. Shared machines drift by tens of percent from one hour to the
// next, so a comparison only means something when both tools ran in the
// same minutes: each round runs every file once with each tool, alternating
// which goes first.
//
//	go run ./scripts/compare -llama-bench ~/llama.cpp/build/bin/llama-bench \
//	    -quant bin/quant -p 256 -n 64 -r 3 -t 2 a.gguf b.gguf
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/quant-llm/quant/internal/engine"
)

func main() {
	var o options
	flag.StringVar(&o.llamaBench, "llama-bench", "llama-bench", "llama-bench binary")
	flag.StringVar(&o.quant, "quant", "bin/quant", "quant binary")
	flag.StringVar(&o.benchArgs, "args", "", "more arguments for both tools, e.g. \"-ctk q8_0 -fa 1\"")
	flag.IntVar(&o.prompt, "p", 256, "prompt tokens (0 = no prefill test)")
	flag.IntVar(&o.gen, "n", 64, "generated tokens (0 = no decode test)")
	flag.IntVar(&o.depth, "d", 0, "tokens already in the cache before each test")
	flag.IntVar(&o.reps, "r", 3, "repetitions per tool, file and round")
	flag.IntVar(&o.threads, "t", 2, "threads")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds (each runs every file with both tools)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: compare [flags] model.gguf...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "compare: "+err.Error())
		os.Exit(1)
	}
}

type options struct {
	llamaBench, quant, benchArgs      string
	prompt, gen, depth, reps, threads int
	rounds                            int
}

// result is the part of llama-bench's JSON (which quant bench also writes)
// that the comparison needs.
type result struct {
	NPrompt   int       `json:"n_prompt"`
	NGen      int       `json:"n_gen"`
	NDepth    int       `json:"n_depth"`
	SamplesTs []float64 `json:"samples_ts"`
	Build     string    `json:"build_commit"`
	CPU       string    `json:"cpu_info"`
}

func (r result) test() string {
	return engine.BenchTest{Prompt: r.NPrompt, Gen: r.NGen, Depth: r.NDepth}.Name()
}

// key names one row of the comparison.
type key struct{ model, test string }

func run(o options, models []string) error {
	args := []string{"-p", fmt.Sprint(o.prompt), "-n", fmt.Sprint(o.gen), "-r", fmt.Sprint(o.reps),
		"-t", fmt.Sprint(o.threads), "-o", "jsonl"}
	if o.depth > 0 {
		args = append(args, "-d", fmt.Sprint(o.depth))
	}
	args = append(args, strings.Fields(o.benchArgs)...)
	tools := []tool{{o.quant, true}, {o.llamaBench, false}}
	samples := map[string]map[key][]float64{}
	builds := map[string]string{}
	cpuInfo := ""
	var order []key
	seen := map[key]bool{}
	for round := range o.rounds {
		for _, m := range models {
			for i := range tools {
				t := tools[(i+round)%len(tools)]
				results, err := t.bench(m, args)
				if err != nil {
					return err
				}
				if samples[t.path] == nil {
					samples[t.path] = map[key][]float64{}
				}
				for _, r := range results {
					k := key{filepath.Base(m), r.test()}
					samples[t.path][k] = append(samples[t.path][k], r.SamplesTs...)
					builds[t.path] = r.Build
					cpuInfo = cmp.Or(cpuInfo, r.CPU)
					if !seen[k] {
						seen[k] = true
						order = append(order, k)
					}
				}
			}
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("%s on %s (%s), %d threads, %d rounds x %d repetitions, interleaved; quant %s, llama.cpp %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, cpuInfo, o.threads, o.rounds, o.reps, builds[o.quant], builds[o.llamaBench])
	fmt.Println("| model | test | quant tok/s | llama.cpp tok/s | quant / llama.cpp |")
	fmt.Println("| --- | --- | ---: | ---: | ---: |")
	for _, k := range order {
		q, qsd := engine.MeanStd(samples[o.quant][k])
		l, lsd := engine.MeanStd(samples[o.llamaBench][k])
		fmt.Printf("| %s | %s | %.2f ± %.2f | %.2f ± %.2f | %.2f× |\n", k.model, k.test, q, qsd, l, lsd, q/l)
	}
	return nil
}

// tool is one of the two benchmarks: quant (`quant bench FILE ...`) or
// llama-bench (`llama-bench -m FILE ...`).
type tool struct {
	path  string
	quant bool
}

// bench runs the tool on one file and returns its JSONL results.
func (t tool) bench(model string, args []string) ([]result, error) {
	cmd := exec.Command(t.path, append([]string{"-m", model}, args...)...)
	if t.quant {
		cmd = exec.Command(t.path, append([]string{"bench", model}, args...)...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var results []result
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", t.path, line, err)
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("%s printed no results for %s", t.path, model)
	}
	return results, nil
}
