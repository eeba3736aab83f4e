//go:build !linux

package main

// peakRSS is not known on this platform.
func peakRSS() (int64, bool) { return 0, false }
