// Command nlbprobe diagnoses Windows Network Load Balancing clusters from the
// wire: NLB heartbeats, ARP bindings, IGMP membership, switch flooding and
// path MTU. See README.md for the subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
