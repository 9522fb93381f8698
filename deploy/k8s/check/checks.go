package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Options is what the checks know beyond the manifests themselves.
type Options struct {
	// EnvNames maps a container name to the environment variables the
	// program in it reads. Every such container must be in the rendering.
	EnvNames map[string]map[string]bool
	// RequireServices: an address in a dialEnv variable that names an
	// in-cluster host must be a Service of this rendering. Off for a base
	// whose Redis and etcd are provided by something else.
	RequireServices bool
}

// Variables whose value is where a program connects to, and how to read the
// host:port places out of it.
var dialEnv = map[string]func(string) ([]string, error){
	"REDIS_URL":      redisAddr,
	"ETCD_ENDPOINTS": etcdAddrs,
	"RPC_ADDR":       func(v string) ([]string, error) { return []string{v}, nil },
}

// Variables whose value is an address the program listens on: the container
// must declare that port.
var listenEnv = []string{"RPC_LISTEN", "RPC_ADMIN_LISTEN", "HTTP_ADDR"}

// The address the rpc-server writes to etcd must carry its listen port.
const advertiseEnv, advertisedListenEnv = "RPC_ADVERTISE_ADDR", "RPC_LISTEN"

// workload is what the checks need of a Deployment or a StatefulSet.
type workload struct {
	ref         string
	replicas    *int32
	selector    *metav1.LabelSelector
	template    corev1.PodTemplateSpec
	claims      []string // volumeClaimTemplates
	serviceName *string  // StatefulSet only
}

type checker struct {
	opts      Options
	workloads []*workload
	services  map[string]*corev1.Service
	envSeen   map[string]bool
	problems  []string
}

func (c *checker) fail(where, format string, args ...any) {
	c.problems = append(c.problems, where+": "+fmt.Sprintf(format, args...))
}

// check returns every problem found in the rendered objects, each prefixed
// with the object (and container) it is about.
func check(objects []object, opts Options) []string {
	c := &checker{opts: opts, services: map[string]*corev1.Service{}, envSeen: map[string]bool{}}
	var services []*corev1.Service
	var hpas []*autoscalingv2.HorizontalPodAutoscaler
	var pdbs []*policyv1.PodDisruptionBudget
	seen := map[string]bool{}
	for _, o := range objects {
		if seen[o.ref()] {
			c.fail(o.ref(), "defined twice")
		}
		seen[o.ref()] = true
		switch obj := o.Obj.(type) {
		case *appsv1.Deployment:
			c.workloads = append(c.workloads, &workload{ref: o.ref(), replicas: obj.Spec.Replicas,
				selector: obj.Spec.Selector, template: obj.Spec.Template})
		case *appsv1.StatefulSet:
			w := &workload{ref: o.ref(), replicas: obj.Spec.Replicas, selector: obj.Spec.Selector,
				template: obj.Spec.Template, serviceName: &obj.Spec.ServiceName}
			for _, claim := range obj.Spec.VolumeClaimTemplates {
				w.claims = append(w.claims, claim.Name)
			}
			c.workloads = append(c.workloads, w)
		case *corev1.Service:
			services = append(services, obj)
			c.services[obj.Name] = obj
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpas = append(hpas, obj)
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, obj)
		}
	}
	for _, w := range c.workloads {
		c.checkWorkload(w)
	}
	for _, svc := range services {
		c.checkService(svc)
	}
	floors := map[string]int32{} // least replicas of a workload, from its autoscaler
	for _, hpa := range hpas {
		c.checkHPA(hpa, floors)
	}
	for _, pdb := range pdbs {
		c.checkPDB(pdb, floors)
	}
	for _, name := range sortedKeys(opts.EnvNames) {
		if !c.envSeen[name] {
			c.fail("manifests", "no container named %s, so its environment was not checked", name)
		}
	}
	return c.problems
}

func (c *checker) checkWorkload(w *workload) {
	podLabels := w.template.Labels
	if ok, err := selects(w.selector, podLabels); err != nil {
		c.fail(w.ref, "selector: %v", err)
	} else if !ok {
		c.fail(w.ref, "selector %s does not match the pod template's labels %s",
			metav1.FormatLabelSelector(w.selector), labels.Set(podLabels))
	}
	spec := w.template.Spec
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		c.fail(w.ref, "enableServiceLinks must be false: service links add <SERVICE>_PORT-style variables the programs do not read (and etcd reads every ETCD_* one as a flag)")
	}
	for _, spread := range spec.TopologySpreadConstraints {
		if ok, err := selects(spread.LabelSelector, podLabels); err != nil {
			c.fail(w.ref, "topologySpreadConstraints on %s: labelSelector: %v", spread.TopologyKey, err)
		} else if !ok {
			c.fail(w.ref, "topologySpreadConstraints on %s: its labelSelector does not select this pod", spread.TopologyKey)
		}
	}
	if w.serviceName != nil && c.services[*w.serviceName] == nil {
		c.fail(w.ref, "serviceName %q: no such Service", *w.serviceName)
	}
	c.checkScrape(w)

	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	for _, claim := range w.claims {
		volumes[claim] = true
	}
	portNames := map[string]bool{}
	for _, ctr := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, p := range ctr.Ports {
			if p.Name == "" {
				continue
			}
			if portNames[p.Name] || len(p.Name) > 15 {
				c.fail(w.ref, "container port name %q is used twice or longer than 15 characters", p.Name)
			}
			portNames[p.Name] = true
		}
		c.checkContainer(w.ref+": container "+ctr.Name, spec, ctr, volumes)
	}
}

// checkScrape: Prometheus's usual pod discovery scrapes the port given in
// prometheus.io/port; without one it would try every declared port.
func (c *checker) checkScrape(w *workload) {
	a := w.template.Annotations
	if a["prometheus.io/scrape"] != "true" {
		return
	}
	port, err := strconv.ParseInt(a["prometheus.io/port"], 10, 32)
	if err != nil || !podHasPort(w.template.Spec, intstr.FromInt32(int32(port))) {
		c.fail(w.ref, "prometheus.io/port %q is not a container port of the pod", a["prometheus.io/port"])
	}
	if path, ok := a["prometheus.io/path"]; ok && !strings.HasPrefix(path, "/") {
		c.fail(w.ref, "prometheus.io/path %q does not start with /", path)
	}
}

func (c *checker) checkContainer(where string, spec corev1.PodSpec, ctr corev1.Container, volumes map[string]bool) {
	if problem := imageProblem(ctr.Image); problem != "" {
		c.fail(where, "image %q: %s", ctr.Image, problem)
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
	}{{"startupProbe", ctr.StartupProbe}, {"readinessProbe", ctr.ReadinessProbe}, {"livenessProbe", ctr.LivenessProbe}}
	for _, p := range probes {
		if port, ok := probePort(p.probe); ok && !containerHasPort(ctr, port) {
			c.fail(where, "%s port %s is not a port of this container (%s)", p.name, port.String(), portList(ctr))
		}
	}
	c.checkSecurity(where, spec.SecurityContext, ctr.SecurityContext)
	for _, resource := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		request, hasRequest := ctr.Resources.Requests[resource]
		limit, hasLimit := ctr.Resources.Limits[resource]
		switch {
		case !hasRequest || !hasLimit:
			c.fail(where, "resources: %s needs both a request and a limit", resource)
		case request.Cmp(limit) > 0:
			c.fail(where, "resources: %s request %s is above its limit %s", resource, request.String(), limit.String())
		}
	}
	for _, mount := range ctr.VolumeMounts {
		if !volumes[mount.Name] {
			c.fail(where, "volumeMount %q: no such volume or volumeClaimTemplate", mount.Name)
		}
	}
	c.checkEnv(where, ctr)
}

// checkSecurity: non-root by number, read-only root filesystem, no privilege
// escalation, no capabilities, the runtime's seccomp profile.
func (c *checker) checkSecurity(where string, pod *corev1.PodSecurityContext, ctr *corev1.SecurityContext) {
	var nonRoot *bool
	var user *int64
	var seccomp *corev1.SeccompProfile
	if pod != nil {
		nonRoot, user, seccomp = pod.RunAsNonRoot, pod.RunAsUser, pod.SeccompProfile
	}
	if ctr != nil {
		nonRoot, user, seccomp = override(nonRoot, ctr.RunAsNonRoot), override(user, ctr.RunAsUser), override(seccomp, ctr.SeccompProfile)
	}
	if nonRoot == nil || !*nonRoot {
		c.fail(where, "runAsNonRoot is not true")
	}
	switch {
	case user == nil:
		c.fail(where, "no runAsUser: images that name their user (USER nobody) cannot be verified as non-root, so give the uid")
	case *user == 0:
		c.fail(where, "runAsUser 0 is root")
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		c.fail(where, "seccompProfile must be RuntimeDefault (or Localhost)")
	}
	if ctr == nil {
		c.fail(where, "no securityContext (readOnlyRootFilesystem, allowPrivilegeEscalation, capabilities)")
		return
	}
	if ctr.ReadOnlyRootFilesystem == nil || !*ctr.ReadOnlyRootFilesystem {
		c.fail(where, "readOnlyRootFilesystem is not true")
	}
	if ctr.AllowPrivilegeEscalation == nil || *ctr.AllowPrivilegeEscalation {
		c.fail(where, "allowPrivilegeEscalation is not false")
	}
	if ctr.Privileged != nil && *ctr.Privileged {
		c.fail(where, "privileged")
	}
	dropsAll := false
	if ctr.Capabilities != nil {
		for _, capability := range ctr.Capabilities.Drop {
			dropsAll = dropsAll || capability == "ALL"
		}
	}
	if !dropsAll {
		c.fail(where, "capabilities.drop does not hold ALL")
	}
}

func (c *checker) checkEnv(where string, ctr corev1.Container) {
	defined := map[string]bool{}
	used := map[string]bool{} // referenced as $(NAME) by another variable
	values := map[string]string{}
	for _, e := range ctr.Env {
		if defined[e.Name] {
			c.fail(where, "env %s is set twice", e.Name)
		}
		for _, ref := range envRefs(e.Value) {
			if !defined[ref] {
				c.fail(where, "env %s: $(%s) is not defined before it, so Kubernetes would leave it as it is", e.Name, ref)
			}
			used[ref] = true
		}
		defined[e.Name] = true
		if e.ValueFrom == nil {
			values[e.Name] = e.Value
		}
	}
	if reads, ok := c.opts.EnvNames[ctr.Name]; ok {
		c.envSeen[ctr.Name] = true
		if len(ctr.EnvFrom) > 0 {
			c.fail(where, "envFrom hides variable names from this check: list them under env")
		}
		for _, e := range ctr.Env {
			if !reads[e.Name] && !used[e.Name] {
				c.fail(where, "env %s: %s does not read it (it reads %s), and no other variable uses it as $(%s)",
					e.Name, ctr.Name, strings.Join(sortedKeys(reads), ", "), e.Name)
			}
		}
	}
	for _, name := range listenEnv {
		if value, ok := values[name]; ok {
			port, err := addrPort(value)
			if err != nil {
				c.fail(where, "env %s=%s: %v", name, value, err)
			} else if !containerHasPort(ctr, intstr.FromInt32(port)) {
				c.fail(where, "env %s=%s: port %d is not a port of this container (%s)", name, value, port, portList(ctr))
			}
		}
	}
	if advertised, ok := values[advertiseEnv]; ok {
		listen, listening := values[advertisedListenEnv]
		advertisedPort, err := addrPort(advertised)
		listenPort, _ := addrPort(listen)
		if err != nil || (listening && advertisedPort != listenPort) {
			c.fail(where, "env %s=%s must be host:port with the port of %s=%s", advertiseEnv, advertised, advertisedListenEnv, listen)
		}
	}
	for _, e := range ctr.Env {
		parse, ok := dialEnv[e.Name]
		if !ok || e.ValueFrom != nil || strings.Contains(e.Value, "$(") {
			continue
		}
		addrs, err := parse(e.Value)
		if err != nil {
			c.fail(where, "env %s=%s: %v", e.Name, e.Value, err)
		}
		for _, addr := range addrs {
			c.checkDial(where, e.Name, addr)
		}
	}
}

// checkDial: an address in the cluster's own names must be a Service port.
func (c *checker) checkDial(where, env, addr string) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		c.fail(where, "env %s: %v", env, err)
		return
	}
	name, inCluster := serviceHost(host)
	if !inCluster {
		return
	}
	svc := c.services[name]
	if svc == nil {
		if c.opts.RequireServices {
			c.fail(where, "env %s dials %s: no Service %q in these manifests", env, addr, name)
		}
		return
	}
	for _, p := range svc.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == portText {
			return
		}
	}
	c.fail(where, "env %s dials %s: Service %s has no port %s", env, addr, name, portText)
}

func (c *checker) checkService(svc *corev1.Service) {
	where := "Service/" + svc.Name
	if len(svc.Spec.Selector) == 0 {
		c.fail(where, "no selector")
		return
	}
	selector := labels.SelectorFromSet(svc.Spec.Selector)
	matched := false
	for _, w := range c.workloads {
		if !selector.Matches(labels.Set(w.template.Labels)) {
			continue
		}
		matched = true
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			if !podHasPort(w.template.Spec, target) {
				c.fail(where, "port %d targets %s, which is not a container port of %s", p.Port, target.String(), w.ref)
			}
		}
	}
	if !matched {
		c.fail(where, "selector %s selects no workload's pods", selector)
	}
}

func (c *checker) checkHPA(hpa *autoscalingv2.HorizontalPodAutoscaler, floors map[string]int32) {
	where := "HorizontalPodAutoscaler/" + hpa.Name
	target := hpa.Spec.ScaleTargetRef
	min := hpa.Spec.MinReplicas
	if min == nil || *min < 1 || *min > hpa.Spec.MaxReplicas {
		c.fail(where, "minReplicas must be set, at least 1 and at most maxReplicas")
	}
	hasCPU := false
	for _, m := range hpa.Spec.Metrics {
		hasCPU = hasCPU || (m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU)
	}
	if !hasCPU {
		c.fail(where, "no CPU metric")
	}
	w := c.workload(target.Kind + "/" + target.Name)
	if w == nil || target.APIVersion != "apps/v1" {
		c.fail(where, "scaleTargetRef %s %s/%s is not a workload of these manifests", target.APIVersion, target.Kind, target.Name)
		return
	}
	if min != nil {
		floors[w.ref] = *min
	}
	if w.replicas != nil {
		c.fail(where, "%s sets spec.replicas although this autoscaler owns the count: every apply would reset it", w.ref)
	}
	for _, m := range hpa.Spec.Metrics {
		if m.Resource == nil || m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
			continue
		}
		for _, ctr := range w.template.Spec.Containers {
			if _, ok := ctr.Resources.Requests[m.Resource.Name]; !ok {
				c.fail(where, "%s utilization needs a %s request on every container of %s; %s has none", m.Resource.Name, m.Resource.Name, w.ref, ctr.Name)
			}
		}
	}
}

func (c *checker) checkPDB(pdb *policyv1.PodDisruptionBudget, floors map[string]int32) {
	where := "PodDisruptionBudget/" + pdb.Name
	minAvailable, maxUnavailable := pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable
	if (minAvailable == nil) == (maxUnavailable == nil) {
		c.fail(where, "set exactly one of minAvailable and maxUnavailable")
	}
	matched := false
	for _, w := range c.workloads {
		ok, err := selects(pdb.Spec.Selector, w.template.Labels)
		if err != nil {
			c.fail(where, "selector: %v", err)
			return
		}
		if !ok {
			continue
		}
		matched = true
		floor, scaled := floors[w.ref]
		if !scaled {
			floor = 1
			if w.replicas != nil {
				floor = *w.replicas
			}
		}
		if maxUnavailable != nil && maxUnavailable.Type == intstr.Int && maxUnavailable.IntVal < 1 ||
			minAvailable != nil && minAvailable.Type == intstr.Int && minAvailable.IntVal >= floor {
			c.fail(where, "allows no eviction of %s at its %d replicas: node drains would never finish", w.ref, floor)
		}
	}
	if !matched {
		c.fail(where, "selector %s selects no workload's pods", metav1.FormatLabelSelector(pdb.Spec.Selector))
	}
}

func (c *checker) workload(ref string) *workload {
	for _, w := range c.workloads {
		if w.ref == ref {
			return w
		}
	}
	return nil
}

// selects reports whether selector selects pods labelled podLabels. An
// empty selector is an error here: every selector must say what it selects.
func selects(selector *metav1.LabelSelector, podLabels map[string]string) (bool, error) {
	if selector == nil || len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
		return false, errors.New("empty selector")
	}
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(podLabels)), nil
}

func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p == nil:
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	}
	return intstr.IntOrString{}, false
}

// containerHasPort: port, by name or number, is declared by the container.
func containerHasPort(ctr corev1.Container, port intstr.IntOrString) bool {
	for _, p := range ctr.Ports {
		if port.Type == intstr.String && p.Name == port.StrVal || port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}

func podHasPort(spec corev1.PodSpec, port intstr.IntOrString) bool {
	for _, ctr := range spec.Containers {
		if containerHasPort(ctr, port) {
			return true
		}
	}
	return false
}

func portList(ctr corev1.Container) string {
	var ports []string
	for _, p := range ctr.Ports {
		ports = append(ports, fmt.Sprintf("%s=%d", p.Name, p.ContainerPort))
	}
	if len(ports) == 0 {
		return "it declares no port"
	}
	return "it declares " + strings.Join(ports, ", ")
}

// imageProblem: an image needs a tag or digest other than latest, so that
// what runs is what was meant and IfNotPresent is the pull policy.
func imageProblem(image string) string {
	if image == "" {
		return "no image"
	}
	if strings.Contains(image, "@") {
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 || name[i+1:] == "latest" {
		return "needs a tag other than latest"
	}
	return ""
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// envRefs returns the $(NAME) references Kubernetes expands in value ($$ escapes).
func envRefs(value string) []string {
	var refs []string
	for _, m := range envRef.FindAllStringSubmatchIndex(value, -1) {
		if m[0] > 0 && value[m[0]-1] == '$' {
			continue
		}
		refs = append(refs, value[m[2]:m[3]])
	}
	return refs
}

func addrPort(addr string) (int32, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return int32(n), err
}

// redisAddr: the host:port of a redis://, rediss:// or redis-cluster:// URL.
func redisAddr(value string) ([]string, error) {
	u, err := url.Parse(value)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "redis", "rediss", "redis-cluster":
	default:
		return nil, fmt.Errorf("scheme %q is not redis, rediss or redis-cluster", u.Scheme)
	}
	return []string{withPort(u.Host, "6379")}, nil
}

// etcdAddrs: comma-separated endpoints, host:port or http(s)://host:port.
func etcdAddrs(value string) ([]string, error) {
	var addrs []string
	for _, endpoint := range strings.Split(value, ",") {
		endpoint = strings.TrimSpace(endpoint)
		if endpoint == "" {
			continue
		}
		if strings.Contains(endpoint, "://") {
			u, err := url.Parse(endpoint)
			if err != nil {
				return nil, err
			}
			endpoint = u.Host
		}
		addrs = append(addrs, withPort(endpoint, "2379"))
	}
	return addrs, nil
}

func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, port)
}

// serviceHost: the Service a host name stands for inside the cluster
// (`name`, `name.namespace.svc[.cluster.local]`); other names and addresses
// are outside these manifests.
func serviceHost(host string) (string, bool) {
	if net.ParseIP(host) != nil {
		return "", false
	}
	parts := strings.Split(host, ".")
	if len(parts) == 1 || len(parts) >= 3 && parts[2] == "svc" {
		return parts[0], true
	}
	return "", false
}

func override[T any](outer, inner *T) *T {
	if inner != nil {
		return inner
	}
	return outer
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
