package main

import (
	"fmt"
	"strings"
)

// Defaults of the IM template gateway.
const (
	defaultHTTPAddr = "0.0.0.0:8080"
	defaultRPCAddr  = "rpc-server:8888"
	defaultEtcdAddr = "etcd:2379"
)

// Config is the gateway's configuration. Every field defaults to the IM
// template's value; the environment variables below override them.
type Config struct {
	HTTPAddr      string   // HTTP_ADDR: address the Hertz server listens on
	RPCAddr       string   // RPC_ADDR: fixed host:port of the rpc-server
	EtcdEndpoints []string // ETCD_ENDPOINTS: comma-separated etcd endpoints
	// Discovery is true when RPC_DISCOVERY=etcd: the client then balances over
	// every rpc-server registered in etcd and RPCAddr is not used.
	Discovery bool
}

// configFromEnv builds the configuration from the environment, read through
// getenv (os.Getenv in main, a map in tests).
func configFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		HTTPAddr:      defaultHTTPAddr,
		RPCAddr:       defaultRPCAddr,
		EtcdEndpoints: []string{defaultEtcdAddr},
	}
	if v := strings.TrimSpace(getenv("HTTP_ADDR")); v != "" {
		cfg.HTTPAddr = v
	}
	if v := strings.TrimSpace(getenv("RPC_ADDR")); v != "" {
		cfg.RPCAddr = v
	}
	if v := getenv("ETCD_ENDPOINTS"); strings.TrimSpace(v) != "" {
		var eps []string
		for _, ep := range strings.Split(v, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				eps = append(eps, ep)
			}
		}
		if len(eps) == 0 {
			return Config{}, fmt.Errorf("ETCD_ENDPOINTS=%q lists no endpoint", v)
		}
		cfg.EtcdEndpoints = eps
	}
	switch v := strings.TrimSpace(getenv("RPC_DISCOVERY")); strings.ToLower(v) {
	case "":
	case "etcd":
		cfg.Discovery = true
	default:
		return Config{}, fmt.Errorf("RPC_DISCOVERY=%q: the only supported value is \"etcd\" (unset: dial RPC_ADDR)", v)
	}
	return cfg, nil
}
