package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestQuietLogDropsSpuriousDetachAndBoundsTheRest(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	q := newQuietLog(&out)
	q.now = func() time.Time { return clock }

	q.Write([]byte("2026/12/06 00:00:00 NETPOLL: closeCallback detach operator failed: no such file or directory\n"))
	for i := 0; i < 25; i++ {
		q.Write([]byte(fmt.Sprintf("NETPOLL: accept conn failed: too many open files %d\n", i)))
	}
	if got := strings.Count(out.String(), "\n"); got != netpollLogPerWindow {
		t.Fatalf("%d lines in the first window, want %d:\n%s", got, netpollLogPerWindow, out.String())
	}
	if strings.Contains(out.String(), "detach") {
		t.Fatalf("spurious detach line written:\n%s", out.String())
	}

	clock = clock.Add(netpollLogWindow)
	out.Reset()
	q.Write([]byte("NETPOLL: accept conn failed: too many open files\n"))
	want := "2026/12/06 00:00:10 NETPOLL: 15 more lines left out in 10s\nNETPOLL: accept conn failed: too many open files\n"
	if out.String() != want {
		t.Fatalf("next window wrote %q, want %q", out.String(), want)
	}
}
