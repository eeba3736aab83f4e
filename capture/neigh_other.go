//go:build !linux

package capture

// StaticNeighbours returns ErrUnsupported.
func StaticNeighbours(string) ([]StaticNeighbour, error) { return nil, ErrUnsupported }
