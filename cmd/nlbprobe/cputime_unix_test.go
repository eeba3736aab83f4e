//go:build unix

package main

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the user and system time the process has used.
func cpuTime(b *testing.B) (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
