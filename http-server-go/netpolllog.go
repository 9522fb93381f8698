package main

// netpoll's own log (shared by Hertz and Kitex), kept readable under abuse:
// netpoll v0.3.2 writes a line for every failed accept, so should the
// open-file limit be reached anyway it writes one per turn of its poller,
// and it writes "closeCallback detach operator failed: no such file or
// directory" for every connection closed in its prepare hook, as
// connLimits.onAccept does with connections over the limit (the check meant
// to skip that case tests a field that is always set; the connection is
// closed and freed all the same).

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

const (
	netpollLogWindow    = 10 * time.Second
	netpollLogPerWindow = 10
)

// spuriousDetach is the line netpoll writes for a connection closed before
// it was registered with a poller.
var spuriousDetach = []byte("closeCallback detach operator failed: no such file or directory")

// quietLog passes netpoll's log lines to out, at most netpollLogPerWindow
// per netpollLogWindow, then says how many it left out; it drops
// spuriousDetach lines.
type quietLog struct {
	out io.Writer
	now func() time.Time

	mu          sync.Mutex
	windowStart time.Time
	written     int
	left        int
}

func newQuietLog(out io.Writer) *quietLog {
	return &quietLog{out: out, now: time.Now}
}

// Write takes one line (log.Logger writes each line whole).
func (q *quietLog) Write(line []byte) (int, error) {
	if bytes.Contains(line, spuriousDetach) {
		return len(line), nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if now := q.now(); now.Sub(q.windowStart) >= netpollLogWindow {
		if q.left > 0 {
			fmt.Fprintf(q.out, "%s NETPOLL: %d more lines left out in %v\n",
				now.Format("2006/01/02 15:04:05"), q.left, netpollLogWindow)
		}
		q.windowStart, q.written, q.left = now, 0, 0
	}
	if q.written == netpollLogPerWindow {
		q.left++
		return len(line), nil
	}
	q.written++
	return q.out.Write(line)
}
