package main

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestMaxConnectionsFor(t *testing.T) {
	for _, tc := range []struct {
		openFiles uint64
		want      int
	}{
		{256, 96},
		{1024, 480},
		{20000, 9968},
		{1 << 20, 10000},
		{^uint64(0), 10000}, // RLIM_INFINITY
		{64, 1},
	} {
		if got := maxConnectionsFor(tc.openFiles); got != tc.want {
			t.Errorf("maxConnectionsFor(%d) = %d, want %d", tc.openFiles, got, tc.want)
		}
	}
}

func TestRequestDeadlineIsNotRestartedOnceItsConnectionClosed(t *testing.T) {
	var fired atomic.Int32
	d := &requestDeadline{timer: time.AfterFunc(time.Hour, func() { fired.Add(1) })}
	d.pause()
	d.restart(10 * time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	if fired.Load() != 1 {
		t.Fatalf("restarted deadline fired %d times, want 1", fired.Load())
	}
	d.end()
	d.restart(10 * time.Millisecond) // a request that ends after its connection closed
	time.Sleep(50 * time.Millisecond)
	if fired.Load() != 1 {
		t.Fatalf("deadline of a closed connection fired again (%d)", fired.Load())
	}
}
