package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// TestMain lets the lab tests re-execute this test binary inside a
// namespace as a traffic sender (netlab.RunRole), removes the nlbprobe
// binary the lab tests share, and, after a run of every test, checks that
// each example block of the README was run by one of them.
func TestMain(m *testing.M) {
	if code, ok := netlab.RunRole(); ok {
		os.Exit(code)
	}
	code := m.Run()
	// The labs that run the README's watch and mtu examples are Linux's.
	if code == 0 && ranEveryTest() && runtime.GOOS == "linux" {
		if problems := checkREADMECoverage(); len(problems) > 0 {
			fmt.Fprintln(os.Stderr, "FAIL: README examples that no test runs:")
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, "  "+p)
			}
			code = 1
		}
	}
	if sharedBin.dir != "" {
		os.RemoveAll(sharedBin.dir)
	}
	os.Exit(code)
}

// sharedBin is the nlbprobe binary the watch lab tests run, built once.
var sharedBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// nlbprobeBinary builds the command once per test run, into a folder any
// user may enter (the permission test runs it as nobody).
func nlbprobeBinary(t testing.TB) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go tool to build nlbprobe: %v", err)
	}
	sharedBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "nlbprobe-bin-")
		if err != nil {
			sharedBin.err = err
			return
		}
		sharedBin.dir = dir
		if sharedBin.err = os.Chmod(dir, 0o755); sharedBin.err != nil {
			return
		}
		path := filepath.Join(dir, "nlbprobe")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		args := []string{"build", "-o", path}
		if os.Getenv("NLBPROBE_TEST_RACE") != "" {
			// The labs with a race-detecting binary: the capture loop,
			// the metrics server and the neighbour reader together.
			args = append(args, "-race")
		}
		if out, err := exec.CommandContext(ctx, gobin, append(args, ".")...).CombinedOutput(); err != nil {
			sharedBin.err = err
			t.Logf("go build:\n%s", out)
			return
		}
		sharedBin.path = path
	})
	if sharedBin.err != nil {
		t.Fatalf("build nlbprobe: %v", sharedBin.err)
	}
	return sharedBin.path
}

// ranEveryTest reports whether this run selected every test of the package
// (no -run, -skip or -list): only then can a README block that no test
// fetched be told from one whose test was filtered out.
func ranEveryTest() bool {
	for _, name := range []string{"test.run", "test.skip", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return true
}
