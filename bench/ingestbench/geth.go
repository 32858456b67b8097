package ingestbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
)

// gethStartTimeout bounds the wait for a started geth to answer eth_chainId.
const gethStartTimeout = 60 * time.Second

// gethLogName is geth's log file inside its datadir, truncated at every start.
const gethLogName = "weir-geth.log"

// geth is one `geth --dev --dev.period 0` process on loopback ports of its own.
type geth struct {
	cmd         *exec.Cmd
	url         string
	logPath     string
	stopTimeout time.Duration

	exited  chan struct{} // closed when the process has been waited for
	waitErr error         // set before exited is closed

	closeOnce sync.Once
	closeErr  error
}

// startGeth starts geth on datadir and waits until its HTTP API answers. A port taken
// between choosing it and geth binding it makes geth exit; startGeth then tries again
// with new ports, up to three times.
func startGeth(ctx context.Context, bin, datadir string, stopTimeout time.Duration) (*geth, error) {
	var err error
	for range 3 {
		var g *geth
		g, err = startGethOnce(ctx, bin, datadir, stopTimeout)
		if err == nil {
			return g, nil
		}
		if ctx.Err() != nil || !errors.Is(err, errGethExited) {
			return nil, err
		}
	}
	return nil, err
}

var errGethExited = errors.New("geth exited")

func startGethOnce(ctx context.Context, bin, datadir string, stopTimeout time.Duration) (*geth, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(datadir, gethLogName)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("ingestbench: geth log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin,
		"--dev", "--dev.period", "0",
		"--datadir", datadir,
		"--ipcdisable", "--nat", "none",
		"--verbosity", "2",
		"--http", "--http.addr", "127.0.0.1", "--http.port", strconv.Itoa(ports[0]),
		"--http.api", "eth,net,web3,debug,txpool",
		"--authrpc.addr", "127.0.0.1", "--authrpc.port", strconv.Itoa(ports[1]),
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ingestbench: start geth: %w", err)
	}
	g := &geth{
		cmd:         cmd,
		url:         "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		logPath:     logPath,
		stopTimeout: stopTimeout,
		exited:      make(chan struct{}),
	}
	go func() {
		g.waitErr = cmd.Wait()
		close(g.exited)
	}()
	if err := g.waitReady(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// waitReady polls eth_chainId until it answers, geth exits, ctx ends or
// gethStartTimeout passes.
func (g *geth) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, gethStartTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := rpc.DialContext(ctx, g.url)
		if err == nil {
			var id string
			err = c.CallContext(ctx, &id, "eth_chainId")
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-g.exited:
			return fmt.Errorf("ingestbench: %w before answering (%v); log %s:\n%s", errGethExited, g.waitErr, g.logPath, tail(g.logPath, 2000))
		case <-ctx.Done():
			return fmt.Errorf("ingestbench: geth at %s not answering: %w; log %s:\n%s", g.url, ctx.Err(), g.logPath, tail(g.logPath, 2000))
		case <-tick.C:
		}
	}
}

// Close stops geth: SIGINT, so that it writes its state to the datadir, then SIGKILL if
// it has not exited after the stop timeout. It blocks until the process is gone and is
// safe to call more than once and concurrently.
func (g *geth) Close() error {
	g.closeOnce.Do(func() {
		_ = g.cmd.Process.Signal(os.Interrupt)
		t := time.NewTimer(g.stopTimeout)
		defer t.Stop()
		select {
		case <-g.exited:
		case <-t.C:
			_ = g.cmd.Process.Kill()
			<-g.exited
			g.closeErr = fmt.Errorf("ingestbench: geth did not stop within %v of SIGINT; killed", g.stopTimeout)
			return
		}
		var exit *exec.ExitError
		if g.waitErr != nil && !(errors.As(g.waitErr, &exit) && interrupted(exit)) {
			g.closeErr = fmt.Errorf("ingestbench: geth: %w", g.waitErr)
		}
	})
	return g.closeErr
}

// interrupted reports whether exit is geth's ordinary answer to SIGINT.
func interrupted(exit *exec.ExitError) bool {
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
		return true
	}
	return exit.ExitCode() == 0
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("ingestbench: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tail returns at most the last n bytes of the file at path.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}
