package main

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// fixture passes every check; each case below breaks one thing in it.
const fixture = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: rpc-server
spec:
  selector:
    matchLabels:
      app: rpc
  template:
    metadata:
      labels:
        app: rpc
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
    spec:
      enableServiceLinks: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: rpc-server
          image: im/rpc-server:1
          ports:
            - name: thrift
              containerPort: 8888
            - name: admin
              containerPort: 9090
          env:
            - name: RPC_LISTEN
              value: 0.0.0.0:8888
            - name: POD_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            - name: RPC_ADVERTISE_ADDR
              value: $(POD_IP):8888
            - name: REDIS_URL
              value: redis://redis:6379
          resources:
            requests: {cpu: 100m, memory: 32Mi}
            limits: {cpu: "1", memory: 64Mi}
          readinessProbe:
            httpGet: {path: /readyz, port: admin}
          livenessProbe:
            tcpSocket: {port: 8888}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata:
  name: rpc-server
spec:
  selector:
    app: rpc
  ports:
    - port: 8888
      targetPort: thrift
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: rpc-server
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: rpc-server}
  minReplicas: 3
  maxReplicas: 6
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: rpc-server
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: rpc}
`

var fixtureEnv = map[string]map[string]bool{
	"rpc-server": set([]string{"RPC_LISTEN", "RPC_ADVERTISE_ADDR", "REDIS_URL"}),
}

func renderFixture(t *testing.T, manifests string) ([]object, error) {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - app.yaml\n"
	if err := fs.WriteFile("/base/kustomization.yaml", []byte(kustomization)); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile("/base/app.yaml", []byte(manifests)); err != nil {
		t.Fatal(err)
	}
	return render(fs, "/base")
}

// mutate replaces old, which must occur exactly once in the fixture.
func mutate(t *testing.T, old, new string) string {
	t.Helper()
	if n := strings.Count(fixture, old); n != 1 {
		t.Fatalf("%q occurs %d times in the fixture, want once", old, n)
	}
	return strings.Replace(fixture, old, new, 1)
}

func TestFixturePasses(t *testing.T) {
	objects, err := renderFixture(t, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != 4 {
		t.Fatalf("rendered %d objects, want 4", len(objects))
	}
	if problems := check(objects, Options{EnvNames: fixtureEnv}); len(problems) > 0 {
		t.Fatalf("problems in the fixture:\n%s", strings.Join(problems, "\n"))
	}
}

// Manifests that kustomize renders but that do not decode into their API types.
func TestDecodeRejects(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"unknown field", "spec:\n  selector:\n    matchLabels:\n      app: rpc\n  template:",
			"spec:\n  replicaz: 3\n  selector:\n    matchLabels:\n      app: rpc\n  template:", `unknown field "spec.replicaz"`},
		{"field in the wrong case", "containerPort: 9090", "containerport: 9090", `unknown field "spec.template.spec.containers[0].ports[1].containerport"`},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", `unknown kind "PodDisruptionBudgets"`},
		{"wrong type", "minReplicas: 3", "minReplicas: three", "cannot unmarshal string"},
		{"bad quantity", "memory: 64Mi}", "memory: 64 MiB}", "quantities must match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderFixture(t, mutate(t, tc.old, tc.new))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDuplicateKeyRejected(t *testing.T) {
	_, err := renderFixture(t, mutate(t, "image: im/rpc-server:1", "image: im/rpc-server:1\n          image: im/rpc-server:2"))
	if err == nil || !strings.Contains(err.Error(), `mapping key "image" already defined`) {
		t.Fatalf("error %v, want one about the duplicate image key", err)
	}
}

// Manifests that decode but would not run as meant.
func TestCheckCatches(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"Deployment selector misses its pods", "matchLabels:\n      app: rpc\n", "matchLabels:\n      app: rpc-server\n",
			"Deployment/rpc-server: selector app=rpc-server does not match the pod template's labels app=rpc"},
		{"Service selector misses the pods", "selector:\n    app: rpc\n", "selector:\n    app: rpc-server\n",
			"Service/rpc-server: selector app=rpc-server selects no workload's pods"},
		{"PodDisruptionBudget selector misses the pods", "matchLabels: {app: rpc}", "matchLabels: {app: rpc-server}",
			"PodDisruptionBudget/rpc-server: selector app=rpc-server selects no workload's pods"},
		{"autoscaler aims at a missing Deployment", "kind: Deployment, name: rpc-server}", "kind: Deployment, name: rpc}",
			"HorizontalPodAutoscaler/rpc-server: scaleTargetRef apps/v1 Deployment/rpc is not a workload"},
		{"autoscaled Deployment sets replicas", "spec:\n  selector:\n    matchLabels:\n      app: rpc\n  template:",
			"spec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: rpc\n  template:", "sets spec.replicas"},
		{"probe on an undeclared port name", "port: admin}", "port: metrics}",
			"container rpc-server: readinessProbe port metrics is not a port of this container"},
		{"probe on an undeclared port number", "tcpSocket: {port: 8888}", "tcpSocket: {port: 8889}",
			"container rpc-server: livenessProbe port 8889 is not a port of this container"},
		{"Service targets an undeclared port", "targetPort: thrift", "targetPort: rpc",
			"Service/rpc-server: port 8888 targets rpc, which is not a container port of Deployment/rpc-server"},
		{"unknown env name", "- name: RPC_LISTEN\n", "- name: RPC_LISTENING\n",
			"container rpc-server: env RPC_LISTENING: rpc-server does not read it"},
		{"helper variable nobody uses", "value: $(POD_IP):8888", "value: 10.0.0.1:8888",
			"env POD_IP: rpc-server does not read it"},
		{"reference to an undefined variable", "value: $(POD_IP):8888", "value: $(POD_ADDR):8888",
			"env RPC_ADVERTISE_ADDR: $(POD_ADDR) is not defined before it"},
		{"listen port not declared", "value: 0.0.0.0:8888", "value: 0.0.0.0:8080",
			"env RPC_LISTEN=0.0.0.0:8080: port 8080 is not a port of this container"},
		{"advertised port is not the listen port", "value: $(POD_IP):8888", "value: $(POD_IP):9090",
			"env RPC_ADVERTISE_ADDR=$(POD_IP):9090 must be host:port with the port of RPC_LISTEN=0.0.0.0:8888"},
		{"envFrom", "          env:\n", "          envFrom:\n            - configMapRef: {name: x}\n          env:\n",
			"envFrom hides variable names"},
		{"root allowed", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"},
		{"no numeric user", "        runAsUser: 65534\n", "", "no runAsUser"},
		{"writable root filesystem", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"privilege escalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"},
		{"capabilities kept", "drop: [ALL]", "drop: [NET_RAW]", "capabilities.drop does not hold ALL"},
		{"no seccomp profile", "type: RuntimeDefault", "type: Unconfined", "seccompProfile must be RuntimeDefault"},
		{"no memory limit", `limits: {cpu: "1", memory: 64Mi}`, `limits: {cpu: "1"}`, "memory needs both a request and a limit"},
		{"request above limit", "requests: {cpu: 100m,", "requests: {cpu: 1500m,", "cpu request 1500m is above its limit 1"},
		{"budget that allows no eviction", "maxUnavailable: 1", "minAvailable: 3", "allows no eviction of Deployment/rpc-server at its 3 replicas"},
		{"scrape port not declared", `prometheus.io/port: "9090"`, `prometheus.io/port: "9091"`, `prometheus.io/port "9091" is not a container port`},
		{"latest image", "image: im/rpc-server:1", "image: im/rpc-server:latest", "needs a tag other than latest"},
		{"service links on", "enableServiceLinks: false", "enableServiceLinks: true", "enableServiceLinks must be false"},
		{"autoscaler without CPU", "resource: {name: cpu,", "resource: {name: memory,", "no CPU metric"},
		{"minReplicas above maxReplicas", "maxReplicas: 6", "maxReplicas: 2", "minReplicas must be set, at least 1 and at most maxReplicas"},
		{"mount of no volume", "          securityContext:\n            allowPrivilegeEscalation",
			"          volumeMounts:\n            - {name: data, mountPath: /data}\n          securityContext:\n            allowPrivilegeEscalation",
			`volumeMount "data": no such volume or volumeClaimTemplate`},
		{"StatefulSet without its Service", "kind: Deployment\nmetadata:\n  name: rpc-server\nspec:\n",
			"kind: StatefulSet\nmetadata:\n  name: rpc-server\nspec:\n  serviceName: rpc\n", `StatefulSet/rpc-server: serviceName "rpc": no such Service`},
		{"spread constraint over other pods", "      enableServiceLinks: false\n",
			"      enableServiceLinks: false\n      topologySpreadConstraints:\n        - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: other}}}\n",
			"topologySpreadConstraints on zone: its labelSelector does not select this pod"},
		{"port name too long", "- name: admin\n", "- name: administration-port\n", `port name "administration-port" is used twice or longer than 15 characters`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objects, err := renderFixture(t, mutate(t, tc.old, tc.new))
			if err != nil {
				t.Fatal(err)
			}
			problems := check(objects, Options{EnvNames: fixtureEnv})
			for _, problem := range problems {
				if strings.Contains(problem, tc.want) {
					return
				}
			}
			t.Fatalf("no problem contains %q; got:\n%s", tc.want, strings.Join(problems, "\n"))
		})
	}
}

// wantOnlyProblem: checking manifests finds exactly one problem, containing want.
func wantOnlyProblem(t *testing.T, manifests string, opts Options, want string) {
	t.Helper()
	objects, err := renderFixture(t, manifests)
	if err != nil {
		t.Fatal(err)
	}
	if problems := check(objects, opts); len(problems) != 1 || !strings.Contains(problems[0], want) {
		t.Fatalf("problems %q, want one containing %q", problems, want)
	}
}

func TestServicesMustExistWhenRequired(t *testing.T) {
	required := Options{EnvNames: fixtureEnv, RequireServices: true}
	wantOnlyProblem(t, fixture, required,
		`container rpc-server: env REDIS_URL dials redis:6379: no Service "redis" in these manifests`)
	withRedis := fixture + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: redis\nspec:\n  selector: {app: rpc}\n  ports:\n    - port: 6380\n      targetPort: 8888\n"
	wantOnlyProblem(t, withRedis, required, "env REDIS_URL dials redis:6379: Service redis has no port 6379")
}

func TestEnvCheckedContainerMustExist(t *testing.T) {
	env := map[string]map[string]bool{"rpc-server": fixtureEnv["rpc-server"], "http-server": set([]string{"HTTP_ADDR"})}
	wantOnlyProblem(t, fixture, Options{EnvNames: env}, "no container named http-server")
}

func TestAddressParsing(t *testing.T) {
	for value, want := range map[string]string{
		"redis://redis:6379":                 "redis:6379",
		"rediss://user:secret@cache:6380/2":  "cache:6380",
		"redis-cluster://node?node=other:1":  "node:6379",
		"etcd:2379, http://etcd-1:2379,":     "etcd:2379 etcd-1:2379",
		"https://etcd.example.com":           "etcd.example.com:2379",
		"http://etcd.im.svc.cluster.local:1": "etcd.im.svc.cluster.local:1",
	} {
		parse := etcdAddrs
		if strings.HasPrefix(value, "redis") {
			parse = redisAddr
		}
		got, err := parse(value)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("%q: got %q (%v), want %q", value, got, err, want)
		}
	}
	if _, err := redisAddr("http://redis:6379"); err == nil {
		t.Error("an http:// Redis URL was accepted")
	}
	for host, want := range map[string]string{"redis": "redis", "etcd.im.svc": "etcd", "etcd.im.svc.cluster.local": "etcd", "etcd.example.com": "", "10.0.0.1": ""} {
		if got, _ := serviceHost(host); got != want {
			t.Errorf("serviceHost(%q) = %q, want %q", host, got, want)
		}
	}
	if got := envRefs("$(A):$$(B)-$(C_1)"); strings.Join(got, " ") != "A C_1" {
		t.Errorf("envRefs = %q, want [A C_1]", got)
	}
}
