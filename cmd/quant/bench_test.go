package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/quant-llm/quant/internal/testdata"
)

func TestParseIntRanges(t *testing.T) {
	for in, want := range map[string][]int{
		"512":             {512},
		"1,2,8":           {1, 2, 8},
		"1-4":             {1, 2, 3, 4},
		"128-512*2":       {128, 256, 512},
		"100-300+100,7":   {100, 200, 300, 7},
		"0,16-64*2,1-2+1": {0, 16, 32, 64, 1, 2},
	} {
		got, err := parseIntRanges(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-4", "4-1", "1-8*1", "1-8+0", "1-9999999"} {
		if got, err := parseIntRanges(bad); err == nil {
			t.Errorf("%q: %v, want an error", bad, got)
		}
	}
}

// llamaBenchFields are the fields a script written for llama-bench's JSON
// reads, by the JSON type llama-bench gives them (its
// test::get_field_type: INT, BOOL, FLOAT, STRING; samples as arrays).
var llamaBenchFields = map[string][]string{
	"number": {"build_number", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "n_gpu_layers",
		"flash_attn", "n_prompt", "n_gen", "n_depth", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts"},
	"string": {"build_commit", "cpu_info", "gpu_info", "backends", "model_filename", "model_type", "type_k", "type_v", "test_time"},
	"bool":   {"use_mmap"},
	"array":  {"samples_ns", "samples_ts"},
}

// llamaBenchScript is such a script: it checks each result's fields and
// prints a line per result, as people compare tools.
func llamaBenchScript(data []byte) (string, error) {
	var results []map[string]any
	if err := json.Unmarshal(data, &results); err != nil {
		return "", err
	}
	var sb strings.Builder
	for i, r := range results {
		for kind, names := range llamaBenchFields {
			for _, name := range names {
				ok := false
				switch r[name].(type) {
				case float64:
					ok = kind == "number"
				case string:
					ok = kind == "string"
				case bool:
					ok = kind == "bool"
				case []any:
					ok = kind == "array"
				}
				if !ok {
					return "", fmt.Errorf("result %d: %s is %#v, want a JSON %s", i, name, r[name], kind)
				}
			}
		}
		fmt.Fprintf(&sb, "%s|%s|%v|%v|pp%v+tg%v@d%v|%.0f±%.0f|%d samples\n", r["model_type"], r["backends"], r["n_threads"], r["n_batch"],
			r["n_prompt"], r["n_gen"], r["n_depth"], r["avg_ts"], r["stddev_ts"], len(r["samples_ts"].([]any)))
	}
	return sb.String(), nil
}

// TestBenchLlamaBenchJSON: a script written for llama-bench's JSON reads
// quant bench -o json (and each line of -o jsonl) with every field it
// expects, typed as llama-bench types it, one result per combination of
// the list flags.
func TestBenchLlamaBenchJSON(t *testing.T) {
	model := testdata.Path(t, "models", "stories260K.gguf")
	args := []string{"bench", model, "-p", "8", "-n", "4", "-pg", "8,4", "-d", "0,8", "-t", "1-2", "-r", "1"}
	out, _, err := quant(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	script, err := llamaBenchScript([]byte(out))
	if err != nil {
		t.Fatalf("the llama-bench script fails: %v\n%s", err, out)
	}
	// 2 thread counts x 2 depths x (pp, tg, pg), in llama-bench's order.
	lines := strings.Split(strings.TrimSpace(script), "\n")
	if len(lines) != 12 || !strings.HasPrefix(lines[0], "llama 293K (guessed) all F32|CPU|1|512|pp8+tg0@d0|") ||
		!strings.HasPrefix(lines[11], "llama 293K (guessed) all F32|CPU|2|512|pp8+tg4@d8|") || !strings.HasSuffix(lines[11], "|1 samples") {
		t.Errorf("script output:\n%s", script)
	}

	jsonl, _, err := quant(t, append(args, "-o", "jsonl")...)
	if err != nil {
		t.Fatal(err)
	}
	var fromLines []string
	for _, l := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		s, err := llamaBenchScript([]byte("[" + l + "]"))
		if err != nil {
			t.Fatalf("jsonl line %q: %v", l, err)
		}
		fromLines = append(fromLines, s)
	}
	if len(fromLines) != 12 {
		t.Errorf("jsonl: %d lines", len(fromLines))
	}
}

// TestBenchCSV: one header of llama-bench's field names and a quoted row
// per test.
func TestBenchCSV(t *testing.T) {
	model := testdata.Path(t, "models", "stories260K.gguf")
	out, _, err := quant(t, "bench", model, "-p", "8", "-n", "4", "-r", "1", "-o", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("csv %v: %q", err, out)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"build_commit", "model_type", "model_size", "model_n_params", "n_batch", "n_threads",
		"type_k", "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts"} {
		if _, ok := col[name]; !ok {
			t.Errorf("no %s column", name)
		}
	}
	if rows[1][col["n_prompt"]] != "8" || rows[2][col["n_gen"]] != "4" || !strings.Contains(out, `"8","0","0"`) {
		t.Errorf("rows %q", rows[1:])
	}
}

// TestBenchMarkdown: llama-bench's table: its columns, fixed widths so
// every line is aligned, a column for a setting given as a list, its test
// names and a build line at the end.
func TestBenchMarkdown(t *testing.T) {
	model := testdata.Path(t, "models", "stories260K.gguf")
	out, _, err := quant(t, "bench", model, "-p", "8", "-n", "4", "-d", "0,8", "-b", "4,8", "-t", "2", "-r", "1")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	const header = "| model                          |       size |     params | backend    | threads | n_batch |            test |                  t/s |"
	if lines[0] != header || !strings.HasPrefix(lines[1], "| ------------------------------ | ---------: | ---------: | ---------- | ------: | ------: | --------------: | -------------------: |") {
		t.Errorf("header\n%s\n%s", lines[0], lines[1])
	}
	table := lines[:len(lines)-2]
	if len(table) != 2+8 {
		t.Fatalf("%d table lines, want 10:\n%s", len(table), out)
	}
	for _, l := range table {
		if utf8.RuneCountInString(l) != utf8.RuneCountInString(header) {
			t.Errorf("misaligned line %q", l)
		}
	}
	if !strings.HasPrefix(table[2], "| llama 293K (guessed) all F32   |   1.12 MiB |     0.29 M | CPU        |       2 |       4 |             pp8 |") ||
		!strings.Contains(out, "|        tg4 @ d8 |") || lines[len(lines)-2] != "" || !strings.HasPrefix(lines[len(lines)-1], "build: ") {
		t.Errorf("table\n%s", out)
	}
}

// TestModelType: the model column names llama.cpp's file types as
// llama.cpp's own description of every test model does.
func TestModelType(t *testing.T) {
	for _, path := range testdata.Models(t) {
		g := testdata.LoadGolden(t, path)
		var desc struct {
			Desc string `json:"model_desc"`
		}
		raw, err := os.ReadFile(testdata.Path(t, "golden", g.Model+".json"))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(raw, &desc)
		mf, err := openFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := modelType(mf.model.File)
		mf.Close()
		// llama.cpp names the size from known layer counts ("?B" here).
		_, wantType, _ := strings.Cut(strings.TrimPrefix(desc.Desc, "llama "), " ")
		_, gotType, _ := strings.Cut(strings.TrimPrefix(got, "llama "), " ")
		if gotType != wantType {
			t.Errorf("%s: %q, llama.cpp %q", g.Model, got, desc.Desc)
		}
	}
	for n, want := range map[uint64]string{1_711_376_384: "1.7B", 134_515_008: "135M", 8_030_261_248: "8B", 292_800: "293K"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}
