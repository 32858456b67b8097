// Command weir is the one binary of the weir platform: `weir dev` runs everything in one
// process on an embedded broker, `weir run COMPONENT` runs one component against the
// real servers, `weir topics apply` creates and updates the topic catalogue.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second Ctrl-C kills a
	// shutdown that hangs.
	context.AfterFunc(ctx, stop)

	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "weir:", err)
		os.Exit(1)
	}
}
