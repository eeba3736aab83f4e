package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the master side to read what is drawn,
// the slave side as the terminal the progress line is drawn on.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

func TestProgressOnATerminal(t *testing.T) {
	master, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Fatal("isTerminal(pty) = false")
	}
	src := &fakeProgress{total: 100, step: 10, calls: make(chan struct{})}
	p := newProgress(slave, src)
	<-src.calls // the first redraw, after progressEvery
	p.Stop()
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out strings.Builder
	buf := make([]byte, 4096)
	// Read until the erase that Stop writes after at least one redraw.
	for strings.Count(out.String(), "\x1b[K") < 2 || !strings.HasSuffix(out.String(), "\r\x1b[K") {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || err == io.EOF {
				break
			}
			t.Fatal(err)
		}
	}
	if got := out.String(); !strings.HasPrefix(got, "\r  0% [") || !strings.HasSuffix(got, "\x1b[K\r\x1b[K") {
		t.Errorf("terminal got %q: want a drawn line, then the line erased", got)
	}
}
