package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRustEnvNames(t *testing.T) {
	source := `
    #[arg(long, env = "RPC_LISTEN", default_value = "0.0.0.0:8888")]
    pub listen: SocketAddr,
    #[arg(long,env="REDIS_URL", hide_env_values = true)]
    /// environment = "NOT_A_FLAG" is prose
`
	if got := strings.Join(rustEnvNames(source), " "); got != "RPC_LISTEN REDIS_URL" {
		t.Fatalf("got %q, want RPC_LISTEN REDIS_URL", got)
	}
}

func TestGoEnvNames(t *testing.T) {
	dir := t.TempDir()
	program := `package main

import "os"

func configFromEnv(getenv func(string) string) {
	_ = getenv("HTTP_ADDR")
	_ = os.Getenv("RPC_ADDR")
	_, _ = os.LookupEnv("RPC_DISCOVERY")
	os.Setenv("NOT_READ", "x")
	println("NOT_AN_ENV")
}
`
	test := "package main\n\nimport \"os\"\n\nvar _ = os.Getenv(\"ONLY_IN_TESTS\")\n"
	for name, text := range map[string]string{"main.go": program, "main_test.go": test} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names, err := goEnvNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != "HTTP_ADDR RPC_ADDR RPC_DISCOVERY" {
		t.Fatalf("got %q, want HTTP_ADDR RPC_ADDR RPC_DISCOVERY", got)
	}
}

// The extraction finds, in this repository's programs, the variables their
// READMEs document.
func TestRepositoryEnvNames(t *testing.T) {
	names, err := programEnvNames("../../..")
	if err != nil {
		t.Fatal(err)
	}
	for program, want := range map[string][]string{
		"rpc-server":  {"RPC_LISTEN", "REDIS_URL", "ETCD_ENDPOINTS", "RPC_ADVERTISE_ADDR", "RPC_WORKER_THREADS", "RUST_LOG"},
		"http-server": {"HTTP_ADDR", "RPC_ADDR", "ETCD_ENDPOINTS", "RPC_DISCOVERY"},
	} {
		for _, name := range want {
			if !names[program][name] {
				t.Errorf("%s: %s not found among %v", program, name, sortedKeys(names[program]))
			}
		}
	}
}
