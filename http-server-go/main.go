// Command http-server is the HTTP gateway of the IM service: Hertz in front,
// a Kitex client to the rpc-server behind.
package main

import (
	"net"
	"os"

	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/cloudwego/hertz/pkg/route"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/connpool"
	etcd "github.com/kitex-contrib/registry-etcd"

	"github.com/im-rs/http-server-go/kitex_gen/rpc/imservice"
)

const rpcServiceName = "demo.rpc.server"

func main() {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		hlog.Fatalf("config: %v", err)
	}
	logConfig(cfg)

	r, err := etcd.NewEtcdResolver(cfg.EtcdEndpoints)
	if err != nil {
		hlog.Fatalf("etcd resolver: %v", err)
	}
	opts := []client.Option{withResolver(cfg.Timeout, rpcTimeout, r)}
	opts = append(opts, timeoutOptions(cfg.Timeout, rpcTimeout)...)
	opts = append(opts, poolOptions(cfg.Pool)...)
	if !cfg.Discovery {
		// Given after the resolver, the fixed address replaces it.
		opts = append(opts, client.WithHostPorts(cfg.RPCAddr))
	}
	cli, err := imservice.NewClient(rpcServiceName, opts...)
	if err != nil {
		hlog.Fatalf("kitex client: %v", err)
	}

	quietLogs(os.Stderr)
	limits := newConnLimits(cfg.Limits)
	hlog.Infof("http-server: at most %d connections open; each must bring a whole request within %v of opening or of its previous response, stalling at most %v between reads (HTTP_MAX_CONNECTIONS, HTTP_IDLE_TIMEOUT, HTTP_READ_TIMEOUT)",
		limits.max, limits.idleTimeout, limits.readTimeout)
	h := server.Default(append(limits.serverOptions(), server.WithHostPorts(cfg.HTTPAddr))...)
	h.Use(limits.boundRequests)
	handler := NewHandler(cli)
	if cfg.Bind == BindTemplate {
		handler.bind = templateBind
	}
	registerRoutes(h, handler)
	h.Spin()
}

// poolOptions are the Kitex client options of the connection pool: none for
// the template's pool (Kitex's default), a long-connection pool of the
// configured size otherwise.
func poolOptions(pool PoolConfig) []client.Option {
	if pool.Kind == PoolTemplate {
		return nil
	}
	return []client.Option{client.WithLongConnection(connpool.IdleConfig{
		MaxIdlePerAddress: pool.MaxIdlePerAddress,
		MaxIdleGlobal:     pool.MaxIdleGlobal,
		MaxIdleTimeout:    pool.IdleTimeout,
	})}
}

func registerRoutes(r route.IRoutes, h *Handler) {
	r.GET("/ping", h.Ping)
	r.POST("/api/send", h.Send)
	r.GET("/api/pull", h.Pull)
}

// logConfig prints what the gateway listens on and dials. Kitex silently
// treats a WithHostPorts host that does not resolve as a unix socket path, so
// that case gets a warning.
func logConfig(cfg Config) {
	hlog.Infof("http-server: listening on %s; request bodies bound the %s way (HTTP_BIND)", cfg.HTTPAddr, cfg.Bind)
	if cfg.Pool.Kind == PoolTemplate {
		hlog.Infof("http-server: rpc pool: template (Kitex default: at most 10 idle connections per address, 100 in all; calls beyond dial and close a connection) (RPC_POOL=template)")
	} else {
		hlog.Infof("http-server: rpc pool: sized, keeps up to %d idle connections per address, %d in all, closes them after %v idle (RPC_POOL_*)",
			cfg.Pool.MaxIdlePerAddress, cfg.Pool.MaxIdleGlobal, cfg.Pool.IdleTimeout)
	}
	hlog.Infof("http-server: rpc calls time out after %v, bounded the %s way (RPC_TIMEOUT_MODE)", rpcTimeout, cfg.Timeout)
	if cfg.Discovery {
		hlog.Infof("http-server: rpc %s discovered through etcd %v (RPC_DISCOVERY=etcd)", rpcServiceName, cfg.EtcdEndpoints)
		return
	}
	hlog.Infof("http-server: rpc %s at fixed address %s (etcd %v not used for it)", rpcServiceName, cfg.RPCAddr, cfg.EtcdEndpoints)
	if _, err := net.ResolveTCPAddr("tcp", cfg.RPCAddr); err != nil {
		hlog.Warnf("http-server: RPC_ADDR %q does not resolve as host:port (%v); Kitex will dial it as a unix socket path", cfg.RPCAddr, err)
	}
}
