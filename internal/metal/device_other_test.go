//go:build !darwin

package metal

import (
	"runtime"
	"strings"
	"testing"
)

func TestNoMetalHere(t *testing.T) {
	if Available() {
		t.Error("Available without Metal")
	}
	d, err := NewDevice()
	if err == nil || d != nil {
		t.Fatalf("NewDevice without Metal: %v, %v", d, err)
	}
	want := "Metal is not available on this platform (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want %q", err, want)
	}
}
