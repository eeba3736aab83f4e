//go:build !unix

package main

import (
	"testing"
	"time"
)

// cpuTime reports false: getrusage is Unix's, and BenchmarkFeed then
// leaves out its cpu-ns/frame.
func cpuTime(*testing.B) (time.Duration, bool) { return 0, false }
