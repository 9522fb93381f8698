package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of the IM template gateway.
const (
	defaultHTTPAddr = "0.0.0.0:8080"
	defaultRPCAddr  = "rpc-server:8888"
	defaultEtcdAddr = "etcd:2379"
)

// Defaults of the sized connection pool (RPC_POOL unset or "sized").
//
// The Kitex client keeps a connection only while fewer than
// MaxIdlePerAddress are idle for that address and fewer than MaxIdleGlobal
// in all; any other connection is closed when its call returns. A gateway
// has one call in flight per HTTP request being served, so these bounds are
// set well above the calls a gateway has in flight at once: every call
// finds an idle connection at steady state and none dials. Connections
// beyond the working set are closed after the idle timeout (LIFO pool: the
// least recently used ones go first). Measured (HTTP mixed, 32 clients, in
// front of the Rust server): 0.34 new connections per request with Kitex's
// default pool, 0 with this one; the gateway's CPU 0.82 -> 0.52 s per 10k
// requests, the server's 0.46 -> 0.29 (docs/performance.md).
const (
	defaultPoolMaxIdlePerAddress = 1000
	defaultPoolMaxIdleGlobal     = 10000
	defaultPoolIdleTimeout       = time.Minute
	// Kitex sweeps idle connections once per idle timeout, so one may stay
	// up to twice that. The rpc-server closes a connection idle for 5
	// minutes (RPC_IDLE_TIMEOUT_MS); 2 x 2 minutes stays below it, so the
	// pool never hands out a connection the server is closing.
	minPoolIdleTimeout = 2 * time.Second // Kitex's own floor
	maxPoolIdleTimeout = 2 * time.Minute
)

// Defaults of the bounds on HTTP clients (limits.go).
const (
	// A request that has begun may stall this long between two reads (Hertz's
	// read timeout; the template keeps Hertz's 3 minutes). The rpc-server
	// gives a whole request 10 s (RPC_READ_TIMEOUT_MS).
	defaultHTTPReadTimeout = 10 * time.Second
	// A connection must bring a whole request within this after it opened or
	// after its previous response, else it is closed: Hertz's own idle
	// timeout for keep-alive connections, as the template has it, applied
	// also to connections that never send a byte and to requests that
	// trickle in.
	defaultHTTPIdleTimeout = 3 * time.Minute
	minHTTPTimeout         = 100 * time.Millisecond
	maxHTTPReadTimeout     = 10 * time.Minute
	maxHTTPIdleTimeout     = time.Hour
)

// LimitsConfig bounds what HTTP clients can hold in the gateway (limits.go).
type LimitsConfig struct {
	// MaxConnections: HTTP connections open at once (HTTP_MAX_CONNECTIONS);
	// 0 derives it from the open-file limit (maxConnectionsFor).
	MaxConnections int
	ReadTimeout    time.Duration // HTTP_READ_TIMEOUT
	IdleTimeout    time.Duration // HTTP_IDLE_TIMEOUT
}

// PoolKind selects the Kitex client's connection pool (RPC_POOL).
type PoolKind string

const (
	// PoolSized keeps one long connection per call in flight (the default).
	PoolSized PoolKind = "sized"
	// PoolTemplate is Kitex v0.5.2's default pool, as the IM template's
	// gateway uses it: at most 10 idle connections per address and 100 in
	// all, so with more than about 10 calls in flight per rpc-server most
	// calls dial a new connection and close it afterwards.
	PoolTemplate PoolKind = "template"
)

// PoolConfig is the Kitex client's connection pool. The numbers apply to
// PoolSized only.
type PoolConfig struct {
	Kind              PoolKind
	MaxIdlePerAddress int           // RPC_POOL_MAX_IDLE_PER_ADDRESS
	MaxIdleGlobal     int           // RPC_POOL_MAX_IDLE_GLOBAL
	IdleTimeout       time.Duration // RPC_POOL_IDLE_TIMEOUT
}

// BindMode selects how a request's JSON body is bound (HTTP_BIND).
type BindMode string

const (
	// BindCached is bind: Hertz's binder over a view of the request that
	// keeps its header map (the default).
	BindCached BindMode = "cached"
	// BindTemplate is Hertz's c.Bind, as the IM template calls it: the same
	// results at about 0.1 CPU s per 10k requests more (binding.go).
	BindTemplate BindMode = "template"
)

// TimeoutMode selects how a call to the rpc-server is bounded to
// rpcTimeout (RPC_TIMEOUT_MODE; timeout.go).
type TimeoutMode string

const (
	// TimeoutReply bounds the wait for the reply with the connection's read
	// deadline, in the calling goroutine (the default).
	TimeoutReply TimeoutMode = "reply"
	// TimeoutTemplate is Kitex's WithRPCTimeout, as the IM template sets it:
	// every call runs on a pool goroutine that the caller waits for.
	TimeoutTemplate TimeoutMode = "template"
)

// Config is the gateway's configuration. Every field but the pool, the
// binding and the timeout mode defaults to the IM template's value; the
// environment variables below override them.
type Config struct {
	HTTPAddr      string   // HTTP_ADDR: address the Hertz server listens on
	RPCAddr       string   // RPC_ADDR: fixed host:port of the rpc-server
	EtcdEndpoints []string // ETCD_ENDPOINTS: comma-separated etcd endpoints
	// Discovery is true when RPC_DISCOVERY=etcd: the client then balances over
	// every rpc-server registered in etcd and RPCAddr is not used.
	Discovery bool
	Pool      PoolConfig   // RPC_POOL and RPC_POOL_*
	Bind      BindMode     // HTTP_BIND
	Timeout   TimeoutMode  // RPC_TIMEOUT_MODE
	Limits    LimitsConfig // HTTP_MAX_CONNECTIONS, HTTP_READ_TIMEOUT, HTTP_IDLE_TIMEOUT
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
	var err error
	if cfg.Bind, err = ourOrTemplate(getenv, "HTTP_BIND", BindCached, BindTemplate); err != nil {
		return Config{}, err
	}
	if cfg.Timeout, err = ourOrTemplate(getenv, "RPC_TIMEOUT_MODE", TimeoutReply, TimeoutTemplate); err != nil {
		return Config{}, err
	}
	if cfg.Pool, err = poolFromEnv(getenv); err != nil {
		return Config{}, err
	}
	if cfg.Limits, err = limitsFromEnv(getenv); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// limitsFromEnv reads HTTP_MAX_CONNECTIONS, HTTP_READ_TIMEOUT and
// HTTP_IDLE_TIMEOUT.
func limitsFromEnv(getenv func(string) string) (LimitsConfig, error) {
	var limits LimitsConfig
	var err error
	if limits.MaxConnections, err = countFromEnv(getenv, "HTTP_MAX_CONNECTIONS", 0); err != nil {
		return LimitsConfig{}, err
	}
	if limits.ReadTimeout, err = durationFromEnv(getenv, "HTTP_READ_TIMEOUT", defaultHTTPReadTimeout, minHTTPTimeout, maxHTTPReadTimeout, ""); err != nil {
		return LimitsConfig{}, err
	}
	if limits.IdleTimeout, err = durationFromEnv(getenv, "HTTP_IDLE_TIMEOUT", defaultHTTPIdleTimeout, minHTTPTimeout, maxHTTPIdleTimeout, ""); err != nil {
		return LimitsConfig{}, err
	}
	return limits, nil
}

// ourOrTemplate reads a setting that is either this gateway's way (ours,
// also when unset) or the template's ("template"), in any case.
func ourOrTemplate[T ~string](getenv func(string) string, name string, ours, template T) (T, error) {
	switch v := strings.TrimSpace(getenv(name)); strings.ToLower(v) {
	case "", string(ours):
		return ours, nil
	case string(template):
		return template, nil
	default:
		return ours, fmt.Errorf("%s=%q: use %q (the default) or %q", name, v, ours, template)
	}
}

// poolKnobs are the sized pool's settings.
var poolKnobs = []string{"RPC_POOL_MAX_IDLE_PER_ADDRESS", "RPC_POOL_MAX_IDLE_GLOBAL", "RPC_POOL_IDLE_TIMEOUT"}

// poolFromEnv reads RPC_POOL and, for the sized pool, RPC_POOL_*.
func poolFromEnv(getenv func(string) string) (PoolConfig, error) {
	switch v := strings.TrimSpace(getenv("RPC_POOL")); strings.ToLower(v) {
	case "", string(PoolSized):
	case string(PoolTemplate):
		for _, name := range poolKnobs {
			if strings.TrimSpace(getenv(name)) != "" {
				return PoolConfig{}, fmt.Errorf("%s applies to the sized pool only, not to RPC_POOL=template", name)
			}
		}
		return PoolConfig{Kind: PoolTemplate}, nil
	default:
		return PoolConfig{}, fmt.Errorf("RPC_POOL=%q: use \"sized\" (the default) or \"template\"", v)
	}
	pool := PoolConfig{Kind: PoolSized}
	var err error
	if pool.MaxIdlePerAddress, err = countFromEnv(getenv, "RPC_POOL_MAX_IDLE_PER_ADDRESS", defaultPoolMaxIdlePerAddress); err != nil {
		return PoolConfig{}, err
	}
	if pool.MaxIdleGlobal, err = countFromEnv(getenv, "RPC_POOL_MAX_IDLE_GLOBAL", defaultPoolMaxIdleGlobal); err != nil {
		return PoolConfig{}, err
	}
	if pool.MaxIdleGlobal < pool.MaxIdlePerAddress {
		return PoolConfig{}, fmt.Errorf("RPC_POOL_MAX_IDLE_GLOBAL (%d) is below RPC_POOL_MAX_IDLE_PER_ADDRESS (%d)",
			pool.MaxIdleGlobal, pool.MaxIdlePerAddress)
	}
	pool.IdleTimeout, err = durationFromEnv(getenv, "RPC_POOL_IDLE_TIMEOUT", defaultPoolIdleTimeout,
		minPoolIdleTimeout, maxPoolIdleTimeout, " (the rpc-server closes connections idle for 5m)")
	if err != nil {
		return PoolConfig{}, err
	}
	return pool, nil
}

// durationFromEnv reads a Go duration between min and max, def when unset;
// why is appended to the error.
func durationFromEnv(getenv func(string) string, name string, def, min, max time.Duration, why string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		return 0, fmt.Errorf("%s=%q: a duration between %v and %v%s", name, v, min, max, why)
	}
	return d, nil
}

// countFromEnv reads a positive integer variable, def when unset.
func countFromEnv(getenv func(string) string, name string, def int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: a positive whole number", name, v)
	}
	return n, nil
}
