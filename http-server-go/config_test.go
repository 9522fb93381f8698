package main

import (
	"reflect"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := configFromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{HTTPAddr: "0.0.0.0:8080", RPCAddr: "rpc-server:8888", EtcdEndpoints: []string{"etcd:2379"}}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestConfigOverrides(t *testing.T) {
	cfg, err := configFromEnv(envOf(map[string]string{
		"HTTP_ADDR":      "127.0.0.1:18080",
		"RPC_ADDR":       "127.0.0.1:18888",
		"ETCD_ENDPOINTS": " 10.0.0.1:2379, 10.0.0.2:2379,,",
		"RPC_DISCOVERY":  "etcd",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		HTTPAddr:      "127.0.0.1:18080",
		RPCAddr:       "127.0.0.1:18888",
		EtcdEndpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379"},
		Discovery:     true,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, env := range []map[string]string{
		{"RPC_DISCOVERY": "consul"},
		{"ETCD_ENDPOINTS": " , ,"},
	} {
		if cfg, err := configFromEnv(envOf(env)); err == nil {
			t.Errorf("%v: no error, got %+v", env, cfg)
		}
	}
}
