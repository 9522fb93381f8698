package main

// Bounds on what HTTP clients can hold in the gateway, in the manner of the
// rpc-server's (docs/limits.md). Without them, Hertz v0.6.1 on netpoll keeps
// a connection that never sends a byte for ever, and once such connections
// use up the open-file limit, netpoll's accept loop fails with EMFILE on
// every turn of its poller: measured, one core busy and about 400,000 log
// lines a second, and no request served until the connections go.
//
//   - At most MaxConnections are open at once; one more is accepted and
//     closed before a byte of it is read (no HTTP answer), with one log
//     line per 10 s that counts them. The default keeps half the open-file
//     limit for the Kitex client's connections, so the listener never meets
//     EMFILE.
//   - A connection must bring a whole request within IdleTimeout of opening
//     or of its previous response, else it is closed: silent connections and
//     requests that trickle in a byte at a time end.
//   - A request that has begun may stall at most ReadTimeout between two
//     reads (Hertz's read timeout): a body shorter than its Content-Length
//     gets Hertz's 400 after that.

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/config"
	"github.com/cloudwego/hertz/pkg/common/hlog"
	hertznetpoll "github.com/cloudwego/hertz/pkg/network/netpoll"
	"github.com/cloudwego/netpoll"
)

const (
	// fdReserve is kept aside from the open-file limit for the listener,
	// etcd, logs and the runtime.
	fdReserve             = 64
	maxDefaultConnections = 10000 // as the rpc-server's RPC_MAX_CONNECTIONS
)

// maxConnectionsFor is the default bound on open HTTP connections under an
// open-file limit: half of what the reserve leaves, since each connection
// being served holds a Kitex connection too (plus the pool's idle ones);
// at most maxDefaultConnections, at least 1.
func maxConnectionsFor(openFiles uint64) int {
	n := (int64(openFiles) - fdReserve) / 2
	if openFiles > 1<<31 || n > maxDefaultConnections {
		return maxDefaultConnections
	}
	if n < 1 {
		return 1
	}
	return int(n)
}

// openFileLimit is the soft RLIMIT_NOFILE, which the Go runtime has already
// raised to the hard limit; 1024 if it cannot be read.
func openFileLimit() uint64 {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return 1024
	}
	return limit.Cur
}

// connLimits applies LimitsConfig to a Hertz server (serverOptions) and its
// routes (boundRequests).
type connLimits struct {
	max         int64
	idleTimeout time.Duration
	readTimeout time.Duration

	open     atomic.Int64
	refusals *logBudget // one report per window
}

func newConnLimits(cfg LimitsConfig) *connLimits {
	max := cfg.MaxConnections
	if max == 0 {
		max = maxConnectionsFor(openFileLimit())
	}
	return &connLimits{max: int64(max), idleTimeout: cfg.IdleTimeout, readTimeout: cfg.ReadTimeout,
		refusals: newLogBudget(1)}
}

func (l *connLimits) serverOptions() []config.Option {
	return []config.Option{
		server.WithReadTimeout(l.readTimeout),
		server.WithIdleTimeout(l.idleTimeout),
		server.WithOnAccept(l.onAccept),
	}
}

// requestDeadline closes its connection unless a whole request has arrived
// in time; boundRequests pauses it while a request is handled.
type requestDeadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	closed bool // once closed, the timer is not started again
}

func (d *requestDeadline) pause() { d.timer.Stop() }

func (d *requestDeadline) restart(after time.Duration) {
	d.mu.Lock()
	if !d.closed {
		d.timer.Reset(after)
	}
	d.mu.Unlock()
}

func (d *requestDeadline) end() {
	d.mu.Lock()
	d.closed = true
	d.timer.Stop()
	d.mu.Unlock()
}

type requestDeadlineKey struct{}

// onAccept admits a new connection or closes it at once. netpoll lets its
// prepare hook close a connection, which is then never registered with a
// poller; closed here, in the poller's own goroutine, before the next
// accept, a refused connection never holds its descriptor for long.
func (l *connLimits) onAccept(conn net.Conn) context.Context {
	closing, ok := closeNotifier(conn)
	if !ok {
		// Not a netpoll connection (another transport): its close cannot
		// be counted, so it is served without these bounds.
		return context.Background()
	}
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		l.refuse()
		_ = conn.Close()
		return context.Background()
	}
	deadline := &requestDeadline{timer: time.AfterFunc(l.idleTimeout, func() { _ = conn.Close() })}
	_ = closing.AddCloseCallback(func(netpoll.Connection) error {
		deadline.end()
		l.open.Add(-1)
		return nil
	})
	return context.WithValue(context.Background(), requestDeadlineKey{}, deadline)
}

// closeNotifier finds the netpoll connection under Hertz's wrapper.
func closeNotifier(conn net.Conn) (netpoll.Connection, bool) {
	wrapped, ok := conn.(*hertznetpoll.Conn)
	if !ok {
		return nil, false
	}
	inner, ok := wrapped.Conn.(netpoll.Connection)
	return inner, ok
}

// refuse reports refused connections at most once per logBudgetWindow, with
// their count since the last report.
func (l *connLimits) refuse() {
	if report, unreported := l.refusals.take(); report {
		hlog.Warnf("http-server: closed %d new connections at once: %d open, the most HTTP_MAX_CONNECTIONS allows",
			unreported+1, l.max)
	}
}

// boundRequests is a middleware: the deadline does not run while a request
// is handled, and starts again for the next one (also after a panic, which
// Hertz's recovery middleware answers).
func (l *connLimits) boundRequests(ctx context.Context, c *app.RequestContext) {
	deadline, ok := ctx.Value(requestDeadlineKey{}).(*requestDeadline)
	if !ok {
		c.Next(ctx)
		return
	}
	deadline.pause()
	defer deadline.restart(l.idleTimeout)
	c.Next(ctx)
}
