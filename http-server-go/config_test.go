package main

import (
	"reflect"
	"testing"
	"time"
)

var defaultPool = PoolConfig{Kind: PoolSized, MaxIdlePerAddress: 1000, MaxIdleGlobal: 10000, IdleTimeout: time.Minute}

var defaultLimits = LimitsConfig{MaxConnections: 0, ReadTimeout: 10 * time.Second, IdleTimeout: 3 * time.Minute}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := configFromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{HTTPAddr: "0.0.0.0:8080", RPCAddr: "rpc-server:8888", EtcdEndpoints: []string{"etcd:2379"}, Pool: defaultPool, Bind: BindCached, Timeout: TimeoutReply, Limits: defaultLimits}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestConfigOverrides(t *testing.T) {
	cfg, err := configFromEnv(envOf(map[string]string{
		"HTTP_ADDR":            "127.0.0.1:18080",
		"RPC_ADDR":             "127.0.0.1:18888",
		"ETCD_ENDPOINTS":       " 10.0.0.1:2379, 10.0.0.2:2379,,",
		"RPC_DISCOVERY":        "etcd",
		"HTTP_BIND":            "Template",
		"RPC_TIMEOUT_MODE":     " template ",
		"HTTP_MAX_CONNECTIONS": "500",
		"HTTP_READ_TIMEOUT":    "2s",
		"HTTP_IDLE_TIMEOUT":    "90s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		HTTPAddr:      "127.0.0.1:18080",
		RPCAddr:       "127.0.0.1:18888",
		EtcdEndpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379"},
		Discovery:     true,
		Pool:          defaultPool,
		Bind:          BindTemplate,
		Timeout:       TimeoutTemplate,
		Limits:        LimitsConfig{MaxConnections: 500, ReadTimeout: 2 * time.Second, IdleTimeout: 90 * time.Second},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, env := range []map[string]string{
		{"RPC_DISCOVERY": "consul"},
		{"ETCD_ENDPOINTS": " , ,"},
		{"RPC_POOL": "mux"},
		{"HTTP_BIND": "fast"},
		{"RPC_TIMEOUT_MODE": "none"},
		{"HTTP_MAX_CONNECTIONS": "0"},
		{"HTTP_MAX_CONNECTIONS": "many"},
		{"HTTP_READ_TIMEOUT": "10"},
		{"HTTP_READ_TIMEOUT": "1ms"},
		{"HTTP_IDLE_TIMEOUT": "2h"},
	} {
		if cfg, err := configFromEnv(envOf(env)); err == nil {
			t.Errorf("%v: no error, got %+v", env, cfg)
		}
	}
}

func TestPoolConfig(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want PoolConfig
	}{
		{nil, defaultPool},
		{map[string]string{"RPC_POOL": "sized"}, defaultPool},
		{map[string]string{"RPC_POOL": " Template "}, PoolConfig{Kind: PoolTemplate}},
		{map[string]string{
			"RPC_POOL_MAX_IDLE_PER_ADDRESS": "64",
			"RPC_POOL_MAX_IDLE_GLOBAL":      " 64 ",
			"RPC_POOL_IDLE_TIMEOUT":         "90s",
		}, PoolConfig{Kind: PoolSized, MaxIdlePerAddress: 64, MaxIdleGlobal: 64, IdleTimeout: 90 * time.Second}},
	} {
		cfg, err := configFromEnv(envOf(tc.env))
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if cfg.Pool != tc.want {
			t.Errorf("%v: got %+v, want %+v", tc.env, cfg.Pool, tc.want)
		}
	}
}

func TestPoolConfigErrors(t *testing.T) {
	for _, env := range []map[string]string{
		{"RPC_POOL": "short"},
		{"RPC_POOL": "template", "RPC_POOL_MAX_IDLE_PER_ADDRESS": "100"},
		{"RPC_POOL_MAX_IDLE_PER_ADDRESS": "0"},
		{"RPC_POOL_MAX_IDLE_PER_ADDRESS": "ten"},
		{"RPC_POOL_MAX_IDLE_GLOBAL": "-1"},
		{"RPC_POOL_MAX_IDLE_PER_ADDRESS": "200", "RPC_POOL_MAX_IDLE_GLOBAL": "100"},
		{"RPC_POOL_IDLE_TIMEOUT": "1s"},
		{"RPC_POOL_IDLE_TIMEOUT": "5m"},
		{"RPC_POOL_IDLE_TIMEOUT": "60"},
	} {
		if cfg, err := configFromEnv(envOf(env)); err == nil {
			t.Errorf("%v: no error, got %+v", env, cfg.Pool)
		}
	}
}

func TestPoolOptions(t *testing.T) {
	if opts := poolOptions(PoolConfig{Kind: PoolTemplate}); len(opts) != 0 {
		t.Errorf("template pool: %d client options, want none (Kitex's default pool)", len(opts))
	}
	if opts := poolOptions(defaultPool); len(opts) != 1 {
		t.Errorf("sized pool: %d client options, want WithLongConnection", len(opts))
	}
}
