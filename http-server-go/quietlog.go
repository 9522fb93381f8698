package main

// The gateway's logs under abuse: the lines a client can cause one per
// connection pass at most logBudgetLines per logBudgetWindow, and how many
// were left out is said when the next window opens (as the rpc-server's
// log_limit does). Both logs are filtered at their output, line by line, so
// their format (and Hertz's file:line) does not change.
//
//   - netpoll's own log (shared by Hertz and Kitex): netpoll v0.3.2 writes a
//     line for every failed accept, so should the open-file limit be reached
//     anyway it writes one per turn of its poller; and it writes
//     "closeCallback detach operator failed: no such file or directory" for
//     every connection closed in its prepare hook, as connLimits.onAccept
//     does with connections over the limit (the check meant to skip that case
//     tests a field that is always set; the connection is closed and freed
//     all the same), which is dropped.
//   - Hertz's "Error=..., remoteAddr=..." line for every connection that ends
//     in an error (a read timeout, a malformed request); its other lines and
//     the gateway's own pass as they are.

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/cloudwego/netpoll"
)

const (
	logBudgetWindow = 10 * time.Second
	logBudgetLines  = 10
)

var (
	// netpoll's line for a connection closed before it was registered with a
	// poller.
	spuriousDetach = []byte("closeCallback detach operator failed: no such file or directory")
	// Hertz v0.6.1's line for a connection's error (route/engine.go, onData).
	hertzConnError = []byte("[Error] HERTZ: Error=")
)

// quietLogs filters both logs; what passes goes to out.
func quietLogs(out io.Writer) {
	netpoll.SetLoggerOutput(&quietLog{out: out, drop: spuriousDetach, what: "NETPOLL: lines", budget: newLogBudget(logBudgetLines)})
	hlog.SetOutput(&quietLog{out: out, budgeted: hertzConnError, what: "HERTZ: connection errors", budget: newLogBudget(logBudgetLines)})
}

// quietLog is a log's output; log.Logger writes each line whole.
type quietLog struct {
	out      io.Writer
	drop     []byte // lines that contain it are dropped (nil: none)
	budgeted []byte // only lines that contain it are on the budget (nil: all)
	what     string // names the lines left out
	budget   *logBudget
}

func (q *quietLog) Write(line []byte) (int, error) {
	if q.drop != nil && bytes.Contains(line, q.drop) {
		return len(line), nil
	}
	if q.budgeted != nil && !bytes.Contains(line, q.budgeted) {
		return q.out.Write(line)
	}
	pass, leftOut := q.budget.take()
	if leftOut > 0 {
		fmt.Fprintf(q.out, "%s %s: %d more left out in %v\n",
			q.budget.now().Format("2006/01/02 15:04:05"), q.what, leftOut, logBudgetWindow)
	}
	if !pass {
		return len(line), nil
	}
	return q.out.Write(line)
}

// logBudget lets `lines` lines through per logBudgetWindow.
type logBudget struct {
	lines int
	now   func() time.Time

	mu          sync.Mutex
	windowStart time.Time
	passed      int
	left        int
}

func newLogBudget(lines int) *logBudget { return &logBudget{lines: lines, now: time.Now} }

// take says whether a line may pass, and how many were left out in the
// window that has just closed (0 if none, or if it has not closed).
func (b *logBudget) take() (pass bool, leftOut int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := b.now(); now.Sub(b.windowStart) >= logBudgetWindow {
		leftOut = b.left
		b.windowStart, b.passed, b.left = now, 0, 0
	}
	if b.passed == b.lines {
		b.left++
		return false, leftOut
	}
	b.passed++
	return true, leftOut
}
