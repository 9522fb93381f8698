// Command go-baseline is a benchmark peer: the IM template's rpc-server as
// the well-known tutorial solution builds it (Kitex + go-redis). It is not
// part of the product; see README.md.
package main

import (
	"context"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	etcd "github.com/kitex-contrib/registry-etcd"

	"github.com/im-rs/http-server-go/kitex_gen/rpc/imservice"
)

const serviceName = "demo.rpc.server"

// Config is read from the environment.
type Config struct {
	Listen        string   // RPC_LISTEN
	RedisAddr     string   // REDIS_ADDR
	EtcdEndpoints []string // ETCD_ENDPOINTS, comma-separated; empty = no registration
}

func configFromEnv(getenv func(string) string) Config {
	cfg := Config{Listen: "0.0.0.0:8888", RedisAddr: "127.0.0.1:6379"}
	if v := getenv("RPC_LISTEN"); v != "" {
		cfg.Listen = v
	}
	if v := getenv("REDIS_ADDR"); v != "" {
		cfg.RedisAddr = v
	}
	for _, e := range strings.Split(getenv("ETCD_ENDPOINTS"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.EtcdEndpoints = append(cfg.EtcdEndpoints, e)
		}
	}
	return cfg
}

func main() {
	cfg := configFromEnv(os.Getenv)
	addr, err := net.ResolveTCPAddr("tcp", cfg.Listen)
	if err != nil {
		klog.Fatalf("RPC_LISTEN %q: %v", cfg.Listen, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	store, err := NewRedisStore(ctx, cfg.RedisAddr)
	cancel()
	if err != nil {
		klog.Fatalf("redis %s: %v", cfg.RedisAddr, err)
	}
	defer store.Close()

	opts := []server.Option{
		server.WithServiceAddr(addr),
		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: serviceName}),
	}
	if len(cfg.EtcdEndpoints) > 0 {
		r, err := etcd.NewEtcdRegistry(cfg.EtcdEndpoints)
		if err != nil {
			klog.Fatalf("etcd registry %v: %v", cfg.EtcdEndpoints, err)
		}
		opts = append(opts, server.WithRegistry(r))
	}
	klog.Infof("go-baseline: listening on %s, redis %s, etcd %v", addr, cfg.RedisAddr, cfg.EtcdEndpoints)

	svr := imservice.NewServer(&IMServiceImpl{store: store}, opts...)
	if err := svr.Run(); err != nil {
		klog.Fatalf("server: %v", err)
	}
}
