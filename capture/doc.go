// Package capture owns everything in nlbprobe that touches the operating
// system: sockets, files and netlink. Here: the DF-bit ICMP prober that
// path-MTU searches send through (Prober, Session), and the route lookup
// that names the outgoing interface and its MTU (RouteTo).
//
// Linux code lives in *_linux.go; elsewhere the same names exist and return
// ErrUnsupported, so the module builds and vets on every platform.
package capture
