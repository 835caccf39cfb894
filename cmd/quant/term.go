package main

import (
	"io"
	"os"

	"github.com/fatih/color"
	"golang.org/x/term"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// paint returns a colour for text written to w, decided by w itself: on a
// terminal unless NO_COLOR is set or TERM is dumb. (fatih/color decides
// from stdout alone, so `quant run ... 2>log` would put escape codes in the
// log.)
func paint(w io.Writer, attrs ...color.Attribute) *color.Color {
	c := color.New(attrs...)
	if os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && isTerminal(w) {
		c.EnableColor()
	} else {
		c.DisableColor()
	}
	return c
}
