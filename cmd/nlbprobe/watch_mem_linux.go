//go:build linux

package main

import (
	"os"
	"regexp"
	"strconv"
)

var vmHWM = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)

// peakRSS returns the most resident memory this process has used, in
// bytes (the kernel's VmHWM: the capture ring's pages count too).
func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	m := vmHWM.FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10, err == nil
}
