//go:build unix

package capture_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nlbprobe/nlbprobe/capture"
)

// TestReadFromAPipe reads a capture from a FIFO, as `nlbprobe read
// <(zcat x.pcap.gz)` does: the format is recognised without seeking, and
// Progress reports an unknown total.
func TestReadFromAPipe(t *testing.T) {
	fr := frames(0, 500, t0, time.Millisecond)
	data := pcapBytes(t, true, 65535, layers.LinkTypeEthernet, fr)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	written := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			written <- err
			return
		}
		_, err = w.Write(data)
		if err2 := w.Close(); err == nil {
			err = err2
		}
		written <- err
	}()
	src, err := capture.OpenFiles([]string{fifo})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	var want []gotPacket
	for i, f := range fr {
		want = append(want, wantPacket(f, layers.LinkTypeEthernet, uint64(i+1), 0))
	}
	if d := diffPackets(got, want); d != "" {
		t.Error(d)
	}
	if done, total := src.Progress(); done != int64(len(data)) || total != 0 {
		t.Errorf("Progress() = %d, %d, want %d, 0 (unknown)", done, total, len(data))
	}
}
