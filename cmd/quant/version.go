package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/quant-llm/quant/internal/cpu"
	"github.com/quant-llm/quant/internal/metal"
)

// build describes the binary from the information Go stamps into it.
type build struct {
	version  string // module version, "(devel)" for a build from a clone
	commit   string // VCS revision, "" when not stamped (go run, go test)
	time     string
	modified bool
}

func readBuild() build {
	b := build{version: "(devel)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" {
		b.version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.commit = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// shortCommit is the commit as llama-bench's build_commit shows its own:
// eight hex digits ("unknown" when the build has no VCS stamp).
func (b build) shortCommit() string {
	if b.commit == "" {
		return "unknown"
	}
	return b.commit[:min(8, len(b.commit))]
}

// versionText is what quant --version prints: version and commit, the Go
// toolchain and platform, and which backends and kernels this binary has.
func versionText() string {
	b := readBuild()
	var sb strings.Builder
	commit := b.shortCommit()
	if b.commit == "" {
		commit = "not recorded: built with -buildvcs=false, go run or go test"
	}
	if b.modified {
		commit += ", modified"
	}
	if b.time != "" {
		commit += ", " + b.time
	}
	fmt.Fprintf(&sb, "quant %s (commit %s)\n", b.version, commit)
	fmt.Fprintf(&sb, "built with %s for %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	kernelsText := "pure-Go kernels"
	if cpu.AssemblyKernels() {
		kernelsText = "assembly kernels (" + runtime.GOARCH + ", " + cpu.KernelLevel() + ")"
	}
	fmt.Fprintf(&sb, "backend cpu: %s, %d cores\n", kernelsText, runtime.NumCPU())
	switch {
	case runtime.GOOS != "darwin":
		sb.WriteString("backend metal: not built for this platform (macOS only)\n")
	case !metal.Available():
		sb.WriteString("backend metal: no Metal device on this machine\n")
	case metal.Precompiled():
		sb.WriteString("backend metal: available, precompiled kernels (metallib)\n")
	default:
		sb.WriteString("backend metal: available, kernels compiled from source at start-up\n")
	}
	return sb.String()
}
