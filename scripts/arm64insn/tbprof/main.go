// Command tbprof turns the per-translation-block counts of insncount.c
// (its "tb ADDR N" lines, with tbs=on) into the functions of BINARY that
// executed the most instructions: count.sh's TOP mode.
//
//	go run ./scripts/arm64insn/tbprof -n 15 BINARY LOG
package main

import (
	"bufio"
	"cmp"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	top := flag.Int("n", 15, "functions to list")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: tbprof [-n 15] BINARY LOG")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *top); err != nil {
		fmt.Fprintln(os.Stderr, "tbprof:", err)
		os.Exit(1)
	}
}

type function struct {
	addr uint64
	name string
}

func run(binary, log string, top int) error {
	funcs, err := functions(binary)
	if err != nil {
		return err
	}
	f, err := os.Open(log)
	if err != nil {
		return err
	}
	defer f.Close()
	counts := map[string]uint64{}
	var total uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[0] != "tb" {
			continue
		}
		addr, err1 := strconv.ParseUint(fields[1], 16, 64)
		n, err2 := strconv.ParseUint(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s: bad line %q", log, sc.Text())
		}
		name := "?"
		if i, found := slices.BinarySearchFunc(funcs, addr, func(f function, a uint64) int { return cmp.Compare(f.addr, a) }); found {
			name = funcs[i].name
		} else if i > 0 {
			name = funcs[i-1].name
		}
		counts[name] += n
		total += n
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", log, err)
	}
	if total == 0 {
		return fmt.Errorf("%s: no tb lines (run the plugin with tbs=on)", log)
	}
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })
	for _, name := range names[:min(top, len(names))] {
		fmt.Printf("%6.2f%% %14d %s\n", 100*float64(counts[name])/float64(total), counts[name], name)
	}
	return nil
}

// functions returns the function symbols of the ELF file, by address.
func functions(binary string) ([]function, error) {
	ef, err := elf.Open(binary)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", binary, err)
	}
	var funcs []function
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			funcs = append(funcs, function{s.Value, s.Name})
		}
	}
	slices.SortFunc(funcs, func(a, b function) int { return cmp.Compare(a.addr, b.addr) })
	return funcs, nil
}
