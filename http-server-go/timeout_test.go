package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/rpcinfo"

	"github.com/im-rs/http-server-go/kitex_gen/rpc"
	"github.com/im-rs/http-server-go/kitex_gen/rpc/imservice"
)

// silentServer accepts connections and reads what they send, never
// answering; it returns its address and the number of connections accepted.
func silentServer(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, conn) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
	})
	return ln.Addr().String(), &accepted
}

// Both modes end a call the rpc-server does not answer after the timeout,
// with the same error (the text the gateway answers with), and do not
// reuse its connection.
func TestTimeoutModesEndUnansweredCalls(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, mode := range []TimeoutMode{TimeoutReply, TimeoutTemplate} {
		t.Run(string(mode), func(t *testing.T) {
			addr, accepted := silentServer(t)
			opts := append(timeoutOptions(mode, timeout), client.WithHostPorts(addr))
			opts = append(opts, poolOptions(PoolConfig{Kind: PoolSized, MaxIdlePerAddress: 10, MaxIdleGlobal: 10, IdleTimeout: time.Minute})...)
			cli, err := imservice.NewClient(rpcServiceName, opts...)
			if err != nil {
				t.Fatal(err)
			}
			req := &rpc.SendRequest{Message: &rpc.Message{Chat: "a:b", Text: "hi", Sender: "a"}}
			for call := int32(1); call <= 2; call++ {
				start := time.Now()
				_, err := cli.Send(context.Background(), req)
				elapsed := time.Since(start)
				t.Logf("call %d: %v after %v", call, err, elapsed.Round(time.Millisecond))
				want := fmt.Sprintf("rpc timeout: timeout=%v, to=%s, method=Send, remote=%s", timeout, rpcServiceName, addr)
				if !errors.Is(err, kerrors.ErrRPCTimeout) || err.Error() != want {
					t.Fatalf("call %d: got %v, want %s", call, err, want)
				}
				if elapsed < timeout || elapsed > timeout+300*time.Millisecond {
					t.Fatalf("call %d ended after %v, want about %v", call, elapsed, timeout)
				}
				if got := accepted.Load(); got != call {
					t.Fatalf("after call %d the server accepted %d connections, want %d (a timed-out connection is not reused)", call, got, call)
				}
			}
		})
	}
}

// stallingResolver is an etcd that does not answer: Resolve returns only
// when its context ends.
type stallingResolver struct{}

func (stallingResolver) Target(_ context.Context, target rpcinfo.EndpointInfo) string {
	return target.ServiceName()
}

func (stallingResolver) Resolve(ctx context.Context, _ string) (discovery.Result, error) {
	<-ctx.Done()
	return discovery.Result{}, ctx.Err()
}

func (stallingResolver) Diff(key string, prev, next discovery.Result) (discovery.Change, bool) {
	return discovery.DefaultDiff(key, prev, next)
}

func (stallingResolver) Name() string { return "stalling" }

// With RPC_DISCOVERY, a call whose service cannot be resolved ends after
// the timeout with the same error in both modes.
func TestTimeoutModesEndUnresolvedCalls(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, mode := range []TimeoutMode{TimeoutReply, TimeoutTemplate} {
		t.Run(string(mode), func(t *testing.T) {
			opts := append(timeoutOptions(mode, timeout), withResolver(mode, timeout, stallingResolver{}))
			cli, err := imservice.NewClient(rpcServiceName, opts...)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = cli.Send(context.Background(), &rpc.SendRequest{Message: &rpc.Message{Chat: "a:b", Text: "hi", Sender: "a"}})
			elapsed := time.Since(start)
			t.Logf("%v after %v", err, elapsed.Round(time.Millisecond))
			want := fmt.Sprintf("rpc timeout: timeout=%v, to=%s, method=Send", timeout, rpcServiceName)
			if err == nil || err.Error() != want {
				t.Fatalf("got %v, want %s", err, want)
			}
			if elapsed < timeout || elapsed > timeout+300*time.Millisecond {
				t.Fatalf("ended after %v, want about %v", elapsed, timeout)
			}
		})
	}
}
