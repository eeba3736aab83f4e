package report

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// TestEncodeInOrder checks that the parallel encoding of a report's lists
// hands every element to write once, in order, across windows, and stops
// at an element that fails to encode.
func TestEncodeInOrder(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	for _, n := range []int{0, 1, 2, encodeWindow - 1, encodeWindow, 3*encodeWindow + 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			next := 0
			err := encodeInOrder(n, func(j int) ([]byte, error) {
				return []byte(fmt.Sprint(j)), nil
			}, func(j int, b []byte) {
				if j != next || string(b) != fmt.Sprint(j) {
					t.Fatalf("write(%d, %q), want element %d", j, b, next)
				}
				next++
			})
			if err != nil || next != n {
				t.Fatalf("wrote %d of %d elements, err %v", next, n, err)
			}
		})
	}
	bad := errors.New("cannot encode")
	written := 0
	err := encodeInOrder(2*encodeWindow, func(j int) ([]byte, error) {
		if j == encodeWindow+3 {
			return nil, bad
		}
		return []byte{'x'}, nil
	}, func(int, []byte) { written++ })
	if !errors.Is(err, bad) || written != encodeWindow+3 {
		t.Fatalf("err %v after %d elements, want %v after %d", err, written, bad, encodeWindow+3)
	}
}
