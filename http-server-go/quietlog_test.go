package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func quietLogAt(drop, budgeted []byte, what string) (*quietLog, *bytes.Buffer, *time.Time) {
	var out bytes.Buffer
	clock := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	budget := newLogBudget(logBudgetLines)
	budget.now = func() time.Time { return clock }
	return &quietLog{out: &out, drop: drop, budgeted: budgeted, what: what, budget: budget}, &out, &clock
}

func TestNetpollLogDropsSpuriousDetachAndBoundsTheRest(t *testing.T) {
	q, out, clock := quietLogAt(spuriousDetach, nil, "NETPOLL: lines")
	q.Write([]byte("2026/12/06 00:00:00 NETPOLL: closeCallback detach operator failed: no such file or directory\n"))
	for i := 0; i < 25; i++ {
		q.Write([]byte(fmt.Sprintf("NETPOLL: accept conn failed: too many open files %d\n", i)))
	}
	if got := strings.Count(out.String(), "\n"); got != logBudgetLines {
		t.Fatalf("%d lines in the first window, want %d:\n%s", got, logBudgetLines, out.String())
	}
	if strings.Contains(out.String(), "detach") {
		t.Fatalf("spurious detach line written:\n%s", out.String())
	}

	*clock = clock.Add(logBudgetWindow)
	out.Reset()
	q.Write([]byte("NETPOLL: accept conn failed: too many open files\n"))
	want := "2026/12/06 00:00:10 NETPOLL: lines: 15 more left out in 10s\nNETPOLL: accept conn failed: too many open files\n"
	if out.String() != want {
		t.Fatalf("next window wrote %q, want %q", out.String(), want)
	}
}

func TestHertzLogBoundsConnectionErrorsOnly(t *testing.T) {
	q, out, clock := quietLogAt(nil, hertzConnError, "HERTZ: connection errors")
	for i := 0; i < 30; i++ {
		q.Write([]byte(fmt.Sprintf("2026/12/06 00:00:00.000001 engine.go:462: [Error] HERTZ: Error=connection read timeout, remoteAddr=127.0.0.1:%d\n", 40000+i)))
		q.Write([]byte(fmt.Sprintf("2026/12/06 00:00:00.000001 main.go:45: [Info] http-server: line %d\n", i)))
	}
	if got := strings.Count(out.String(), "read timeout"); got != logBudgetLines {
		t.Fatalf("%d connection errors written in one window, want %d", got, logBudgetLines)
	}
	if got := strings.Count(out.String(), "http-server: line"); got != 30 {
		t.Fatalf("%d other lines written, want all 30", got)
	}

	*clock = clock.Add(logBudgetWindow)
	out.Reset()
	q.Write([]byte("engine.go:462: [Error] HERTZ: Error=connection read timeout, remoteAddr=127.0.0.1:50000\n"))
	want := "2026/12/06 00:00:10 HERTZ: connection errors: 20 more left out in 10s\n" +
		"engine.go:462: [Error] HERTZ: Error=connection read timeout, remoteAddr=127.0.0.1:50000\n"
	if out.String() != want {
		t.Fatalf("next window wrote %q, want %q", out.String(), want)
	}
}
