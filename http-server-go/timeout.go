package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
)

// rpcTimeout bounds every call to the rpc-server, as in the IM template.
const rpcTimeout = time.Second

// timeoutOptions are the Kitex client options that bound a call to d.
//
// The template sets client.WithRPCTimeout. In Kitex v0.5.2 that puts a
// deadline on the call's context, and because the context then has a Done
// channel, its timeout middleware runs the rest of every call on a worker
// goroutine and waits for it or for the deadline: a hand-off, a channel and
// a timer per call, about a tenth of the gateway's CPU under load.
//
// The wait a timeout is there for is the wait for the reply, and Kitex
// already bounds it with the connection's read deadline, which it derives
// from the same RPC timeout (plus 5 ms) when it reads the reply. So
// TimeoutReply sets the call's RPC timeout from a middleware that runs
// inside the timeout middleware: that middleware sees no timeout and calls
// through on the caller's goroutine (its fast path), the read deadline is d
// as before. A dial is bounded by Kitex's connect timeout (50 ms) and a
// request is a single write of a few kilobytes at most, so a call still
// ends within about d. One more wait can come first with RPC_DISCOVERY:
// the first call for the service asks etcd, with the call's context; the
// template's deadline bounds that, so withResolver gives the resolver d of
// its own. When the rpc-server (or etcd) does not answer in time, the call
// fails with the error the timeout middleware gives, word for word (HTTP
// 500 "rpc timeout: timeout=1s, to=..., method=..., remote=..."), and the
// connection is closed, not reused (timeout_test.go).
func timeoutOptions(mode TimeoutMode, d time.Duration) []client.Option {
	if mode == TimeoutTemplate {
		return []client.Option{client.WithRPCTimeout(d)}
	}
	return []client.Option{client.WithMiddleware(func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp interface{}) error {
			ri := rpcinfo.GetRPCInfo(ctx)
			if ri == nil {
				return next(ctx, req, resp)
			}
			// Not locked: nothing here sets a timeout per call.
			_ = rpcinfo.AsMutableRPCConfig(ri.Config()).SetRPCTimeout(d)
			err := next(ctx, req, resp)
			if err != nil && (errors.Is(err, kerrors.ErrRPCTimeout) || errors.Is(err, context.DeadlineExceeded)) {
				return templateTimeoutError(ri, d)
			}
			return err
		}
	})}
}

// templateTimeoutError is the error Kitex v0.5.2's timeout middleware gives
// for a call that timed out after d.
func templateTimeoutError(ri rpcinfo.RPCInfo, d time.Duration) error {
	to := ri.To()
	msg := fmt.Sprintf("timeout=%v, to=%s, method=%s", d, to.ServiceName(), to.Method())
	if addr := to.Address(); addr != nil {
		msg = fmt.Sprintf("%s, remote=%s", msg, addr.String())
	}
	return kerrors.ErrRPCTimeout.WithCause(errors.New(msg))
}

// withResolver is the client option for resolver r: in TimeoutReply mode a
// resolution may take at most d, as the call's deadline allows it in the
// template's mode.
func withResolver(mode TimeoutMode, d time.Duration, r discovery.Resolver) client.Option {
	if mode == TimeoutTemplate {
		return client.WithResolver(r)
	}
	return client.WithResolver(boundedResolver{Resolver: r, timeout: d})
}

type boundedResolver struct {
	discovery.Resolver
	timeout time.Duration
}

func (r boundedResolver) Resolve(ctx context.Context, desc string) (discovery.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return r.Resolver.Resolve(ctx, desc)
}
