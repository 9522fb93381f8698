// Command k8s-check validates the Kubernetes manifests in deploy/k8s
// offline, with no cluster and no kubectl:
//
//   - it renders deploy/k8s (the development cluster: app/ and dev/) and
//     deploy/k8s/app (what production builds on) with the kustomize library,
//     as `kubectl kustomize` does;
//   - it decodes every object strictly into its Kubernetes API type by
//     apiVersion and kind: unknown kinds, unknown or miscased fields and
//     duplicate keys fail;
//   - it checks what the API server would accept but the cluster would not
//     run as meant (checks.go): selectors that miss their pods, Service and
//     probe ports the containers do not declare, an autoscaler or disruption
//     budget aimed at nothing, environment variables the programs do not
//     read (the names come from rpc-server/src/config.rs and
//     http-server-go/*.go), addresses of Services that do not exist, and
//     containers without a non-root user, a read-only root filesystem or
//     resource requests and limits.
//
// It prints every problem and exits 1 if there is any.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// renderings are the kustomizations checked, relative to the repository.
var renderings = []struct {
	dir string
	// Redis and etcd are in this rendering (dev/), so the addresses the
	// programs dial must be its Services.
	requireServices bool
}{
	{"deploy/k8s", true},
	{"deploy/k8s/app", false},
}

func main() {
	repo := flag.String("repo", "../../..", "the repository's root directory")
	flag.Parse()

	envNames, err := programEnvNames(*repo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-check:", err)
		os.Exit(2)
	}
	failed := 0
	for _, r := range renderings {
		objects, err := render(filesys.MakeFsOnDisk(), filepath.Join(*repo, r.dir))
		if err != nil {
			fmt.Printf("k8s-check: %s: %v\n", r.dir, err)
			failed++
			continue
		}
		problems := check(objects, Options{EnvNames: envNames, RequireServices: r.requireServices})
		for _, problem := range problems {
			fmt.Printf("k8s-check: %s: %s\n", r.dir, problem)
		}
		if len(problems) > 0 {
			failed++
			continue
		}
		fmt.Printf("k8s-check: %s: %d objects, no problems:", r.dir, len(objects))
		for _, o := range objects {
			fmt.Printf(" %s", o.ref())
		}
		fmt.Println()
	}
	if failed > 0 {
		fmt.Printf("k8s-check: %d of %d renderings have problems\n", failed, len(renderings))
		os.Exit(1)
	}
}
