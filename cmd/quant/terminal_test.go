package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quant-llm/quant/internal/testdata"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// quantBinary builds the command once for the tests that run it as a
// process; TestMain removes it.
func quantBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "quant-test-bin"); binErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "quant"), ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "quant")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// terminal is a shell command running in a tmux pane: a real terminal,
// so Ctrl-C is a signal from the line discipline and stdout a tty.
type terminal struct {
	t    *testing.T
	sock string
}

// terminals counts the tmux servers started, one socket each.
var terminals int

// waitLimit bounds every wait so that a broken program fails the test
// instead of hanging it; nothing is asserted about time.
const waitLimit = 2 * time.Minute

func newTerminal(t *testing.T, command string) *terminal {
	t.Helper()
	if testing.Short() {
		t.Skip("terminal tests build the binary")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: skipping the terminal test (apt-get install tmux)")
	}
	terminals++
	x := &terminal{t: t, sock: fmt.Sprintf("quant-test-%d-%d", os.Getpid(), terminals)}
	x.tmux("new-session", "-d", "-x", "160", "-y", "50", "-s", "t", command+"; echo EXIT=$?; sleep 600")
	t.Cleanup(func() { exec.Command("tmux", "-L", x.sock, "kill-server").Run() })
	return x
}

func (x *terminal) tmux(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.sock}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// keys types keys (tmux names: Enter, C-c, C-d) into the pane.
func (x *terminal) keys(keys ...string) { x.tmux(append([]string{"send-keys", "-t", "t"}, keys...)...) }

// screen is the pane's text, scrollback included, wrapped lines joined.
func (x *terminal) screen() string {
	return x.tmux("capture-pane", "-p", "-J", "-S", "-1000", "-t", "t")
}

// waitFor polls the screen until ok holds and returns it.
func (x *terminal) waitFor(what string, ok func(screen string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := x.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("waiting for %s; the screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (x *terminal) waitForText(text string) string {
	return x.waitFor(fmt.Sprintf("%q", text), func(s string) bool { return strings.Contains(s, text) })
}

// atPrompt reports whether the chat is waiting at an empty "> " prompt,
// after n interruptions.
func atPrompt(s string, interrupted int) bool {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Count(s, "[interrupted]") == interrupted && strings.TrimSpace(lines[len(lines)-1]) == ">"
}

// TestTerminalChatInterrupts: in an interactive chat, Ctrl-C during a
// reply stops it and returns to the prompt, the chat goes on (the next
// turn continues from the cache), and Ctrl-C at the empty prompt exits.
func TestTerminalChatInterrupts(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	// -n -1 on random weights: a reply of thousands of tokens, so Ctrl-C
	// always comes while it is being written.
	x := newTerminal(t, quantBinary(t)+" run "+model+" --chat -n -1 -c 4096 --temp 0 --backend cpu")
	x.waitFor("the prompt", func(s string) bool { return atPrompt(s, 0) })
	for turn, msg := range []string{"Hello", "Again"} {
		x.keys(msg, "Enter")
		x.waitFor("the reply to start", func(s string) bool {
			_, after, _ := strings.Cut(s, "> "+msg)
			return len(strings.TrimSpace(after)) > 40
		})
		x.keys("C-c")
		s := x.waitFor("the prompt after Ctrl-C", func(s string) bool { return atPrompt(s, turn+1) })
		if strings.Contains(s, "EXIT=") || strings.Contains(s, "quant: ") && !strings.Contains(s, "quant: warning") && !strings.Contains(s, "quant: this model") {
			t.Fatalf("turn %d: the chat ended or failed:\n%s", turn+1, s)
		}
		if n := len(statsLines(s)); n != turn+1 {
			t.Errorf("turn %d: %d stats lines", turn+1, n)
		}
	}
	x.keys("C-c")
	x.waitForText("EXIT=0")
}

// TestTerminalChatEOF: Ctrl-D at the empty prompt ends the chat.
func TestTerminalChatEOF(t *testing.T) {
	model := testdata.Path(t, "models", "tiny-bpe-q4_k_m.gguf")
	x := newTerminal(t, quantBinary(t)+" run "+model+" --chat -n 4 --temp 0")
	x.waitFor("the prompt", func(s string) bool { return atPrompt(s, 0) })
	x.keys("Hi", "Enter")
	x.waitFor("the reply", func(s string) bool { return len(statsLines(s)) == 1 && atPrompt(s, 0) })
	x.keys("C-d")
	x.waitForText("EXIT=0")
}

// TestSecondInterruptExits: a second Ctrl-C while an operation is
// stopping exits at once (status 130); a Ctrl-C between operations goes
// to the prompt.
func TestSecondInterruptExits(t *testing.T) {
	codes := make(chan int, 1)
	exit = func(code int) { codes <- code }
	defer func() { exit = os.Exit }()
	in := newInterrupter()
	defer in.stop()
	ctx, done := in.begin(context.Background())
	in.sigs <- os.Interrupt
	<-ctx.Done()
	in.sigs <- os.Interrupt
	if code := <-codes; code != 130 {
		t.Errorf("exit status %d, want 130", code)
	}
	done()
	in.sigs <- os.Interrupt
	<-in.idle
}

// TestTerminalPPL: on a terminal, ppl prints its running values on one
// clean line, without a progress bar drawn over them.
func TestTerminalPPL(t *testing.T) {
	model := testdata.Path(t, "models", "stories260K.gguf")
	text := testdata.Path(t, "text", "wiki.test.raw")
	x := newTerminal(t, quantBinary(t)+" ppl "+model+" -f "+text+" -c 128 --chunks 12 --threads 1")
	s := x.waitForText("EXIT=")
	if !regexp.MustCompile(`(?m)^\[1\][0-9.]+,\[2\][0-9.]+,(\[\d+\][0-9.]+,){9}\[12\][0-9.]+,$`).MatchString(s) || strings.Contains(s, "perplexity ") ||
		!strings.Contains(s, "Final estimate: PPL = ") {
		t.Errorf("ppl on a terminal:\n%s", s)
	}
	// With stdout in a file, the terminal shows the bar instead (cleared
	// when done) and the file holds the values.
	out := filepath.Join(t.TempDir(), "ppl.txt")
	x = newTerminal(t, quantBinary(t)+" ppl "+model+" -f "+text+" -c 128 --chunks 12 --threads 1 >"+out)
	x.waitForText("EXIT=0")
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "[12]") || strings.Contains(string(b), "perplexity") {
		t.Errorf("ppl >file: %q", b)
	}
}

// TestTerminalColour: colour follows each stream: stats go to a log file
// without escape codes while stdout is the terminal; on the terminal they
// are coloured unless NO_COLOR is set.
func TestTerminalColour(t *testing.T) {
	model := testdata.Path(t, "models", "stories260K.gguf")
	log := filepath.Join(t.TempDir(), "log")
	x := newTerminal(t, quantBinary(t)+" run "+model+" -p hi -n 4 2>"+log)
	x.waitForText("EXIT=0")
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "tok/s") || strings.Contains(string(b), "\x1b[") {
		t.Errorf("log %q: want the stats without escape codes", b)
	}
	for _, c := range []struct {
		env    string
		colour bool
	}{{"", true}, {"NO_COLOR=1 ", false}} {
		x := newTerminal(t, c.env+quantBinary(t)+" run "+model+" -p hi -n 4 >/dev/null")
		x.waitForText("EXIT=0")
		s := x.tmux("capture-pane", "-p", "-e", "-t", "t")
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(line, "tok/s") && strings.Contains(line, "\x1b[") != c.colour {
				t.Errorf("%sstats line on the terminal %q: want colour %v", c.env, line, c.colour)
			}
		}
	}
}
