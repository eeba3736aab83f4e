package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/report"
)

// writeHTMLFile writes the HTML report to path atomically: into a
// temporary file beside it, renamed over path when complete, so a browser
// or a file share never shows half a page (watch rewrites it every status
// interval).
func writeHTMLFile(path string, r *analyze.Report) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := report.WriteHTML(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("write HTML report %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write HTML report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write HTML report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}
