package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// acceptLlamaFlags makes cmd accept llama.cpp's single-dash flags of
// several letters (-ctk, -ctv, -fa, -pg) as spellings of long flags.
// Cobra's parser would read "-ctk" as "-c tk", so the command parses its
// flags itself after rewriting those. args validates the arguments left.
func acceptLlamaFlags(cmd *cobra.Command, aliases map[string]string, args cobra.PositionalArgs) {
	cmd.DisableFlagParsing = true
	cmd.Args = cobra.ArbitraryArgs
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, raw []string) error {
		rewritten := make([]string, len(raw))
		for i, a := range raw {
			name, value, hasValue := strings.Cut(a, "=")
			if long, ok := aliases[name]; ok {
				a = long
				if hasValue {
					a += "=" + value
				}
			}
			rewritten[i] = a
			if a == "--" {
				copy(rewritten[i:], raw[i:])
				break
			}
		}
		c.InitDefaultHelpFlag()
		if err := c.Flags().Parse(rewritten); err != nil {
			return err
		}
		if help, _ := c.Flags().GetBool("help"); help {
			return c.Help()
		}
		rest := c.Flags().Args()
		if err := args(c, rest); err != nil {
			return err
		}
		return run(c, rest)
	}
}

// intList is a flag holding integers as llama-bench takes them: comma
// lists, ranges first-last, first-last+step or first-last*factor, and the
// flag repeated. A given value replaces the default.
type intList struct {
	values []int
	set    bool
}

func newIntList(def ...int) *intList { return &intList{values: def} }

func (l *intList) String() string {
	s := make([]string, len(l.values))
	for i, v := range l.values {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Type() string { return "list" }

func (l *intList) Set(s string) error {
	v, err := parseIntRanges(s)
	if err != nil {
		return err
	}
	if !l.set {
		l.values, l.set = nil, true
	}
	l.values = append(l.values, v...)
	return nil
}

// maxListLen bounds the tests one range may ask for.
const maxListLen = 1 << 16

// parseIntRanges reads "1,2,8-32*2,100-300+100" as llama-bench does.
func parseIntRanges(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		first, rest, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(first)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q: want numbers >= 0, comma lists and ranges like 1-4, 8-64*2 or 100-400+100", s)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		op, step := byte('+'), 1
		if i := strings.IndexAny(rest, "+*"); i >= 0 {
			op = rest[i]
			if step, err = strconv.Atoi(rest[i+1:]); err != nil {
				return nil, fmt.Errorf("%q: bad step in %q", s, part)
			}
			rest = rest[:i]
		}
		b, err := strconv.Atoi(rest)
		if err != nil || b < a {
			return nil, fmt.Errorf("%q: bad range %q", s, part)
		}
		for v := a; v <= b; {
			out = append(out, v)
			if len(out) > maxListLen {
				return nil, fmt.Errorf("%q: more than %d values", s, maxListLen)
			}
			next := v + step
			if op == '*' {
				next = v * step
			}
			if next <= v {
				return nil, fmt.Errorf("%q: range %q does not grow", s, part)
			}
			v = next
		}
	}
	return out, nil
}

// stringList is a flag holding words: comma lists and the flag repeated.
type stringList struct {
	values []string
	set    bool
}

func (l *stringList) String() string { return strings.Join(l.values, ",") }
func (l *stringList) Type() string   { return "list" }
func (l *stringList) Set(s string) error {
	if !l.set {
		l.values, l.set = nil, true
	}
	l.values = append(l.values, strings.Split(s, ",")...)
	return nil
}
