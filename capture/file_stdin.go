package capture

import (
	"errors"
	"io"
	"os"
)

// Standard input as a capture file: `tcpdump -i eth0 -U -w - | nlbprobe
// read -`, or `gzip -dc` of a file. It is read like any other input; its
// size is known only when it is redirected from a regular file.

var (
	errStdinTwice = errors.New("standard input given twice")
	// ErrInterrupted is the read error of standard input after
	// FileOptions.Done closed.
	ErrInterrupted = errors.New("interrupted")
)

// stdinReadSize is the most a read of a pipe asks for: a pipe's buffer is
// 64 KiB on Linux.
const stdinReadSize = 64 << 10

// openStdin returns standard input (r, or os.Stdin) to read, and its size
// when it is a regular file. A pipe or terminal is read on a goroutine of
// its own when done is given, so that a read waiting for a writer that
// does not write can be abandoned.
func openStdin(r io.Reader, done <-chan struct{}) (io.ReadCloser, int64, error) {
	if r == nil {
		r = os.Stdin
	}
	if f, ok := r.(*os.File); ok {
		st, err := f.Stat()
		if err != nil {
			return nil, 0, err
		}
		if st.IsDir() {
			return nil, 0, errIsDir
		}
		if st.Mode().IsRegular() {
			return io.NopCloser(f), st.Size(), nil
		}
	}
	if done == nil {
		return io.NopCloser(r), 0, nil
	}
	return newAbandonableReader(r, done), 0, nil
}

// abandonableReader reads r on a goroutine of its own, into a buffer of
// its own, and hands the bytes over: Read returns ErrInterrupted as soon
// as done closes, even while the goroutine still waits in a read of r
// (it is left there; the process is about to end). Copying costs one
// memmove per read of up to 64 KiB, nothing per frame.
type abandonableReader struct {
	done   <-chan struct{}
	want   chan int        // Read asks the goroutine for up to n bytes
	got    chan readResult // and receives them
	closed chan struct{}   // Close ends the goroutine once its read returns
	// rest is what the last result held beyond what Read returned; the
	// goroutine reads again only when it is empty.
	rest    []byte
	restErr error
}

type readResult struct {
	data []byte
	err  error
}

func newAbandonableReader(r io.Reader, done <-chan struct{}) *abandonableReader {
	a := &abandonableReader{done: done, want: make(chan int), got: make(chan readResult), closed: make(chan struct{})}
	go func() {
		buf := make([]byte, stdinReadSize)
		for {
			var n int
			select {
			case n = <-a.want:
			case <-a.closed:
				return
			}
			m, err := r.Read(buf[:min(n, len(buf))])
			select {
			case a.got <- readResult{data: buf[:m], err: err}:
			case <-a.closed:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

func (a *abandonableReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(a.rest) == 0 && a.restErr == nil {
		select {
		case <-a.done:
			return 0, ErrInterrupted
		case a.want <- len(p):
		}
		select {
		case <-a.done:
			return 0, ErrInterrupted
		case res := <-a.got:
			a.rest, a.restErr = res.data, res.err
		}
	}
	n := copy(p, a.rest)
	a.rest = a.rest[n:]
	if len(a.rest) > 0 {
		return n, nil
	}
	// The error of the read that gave the bytes, if any, comes with the
	// last of them and stays: the goroutine has ended.
	return n, a.restErr
}

func (a *abandonableReader) Close() error {
	select {
	case <-a.closed:
	default:
		close(a.closed)
	}
	return nil
}
