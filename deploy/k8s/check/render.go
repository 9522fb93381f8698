package main

import (
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one rendered manifest, decoded into its Kubernetes API type.
type object struct {
	Kind string
	Name string
	Obj  metav1.Object // *appsv1.Deployment, *corev1.Service, ...
}

func (o object) ref() string { return o.Kind + "/" + o.Name }

// kinds are the API types the manifests may use, by apiVersion and kind.
// Anything else fails the check: a kind that is not here is not checked.
var kinds = map[string]func() metav1.Object{
	"apps/v1 Deployment":                     func() metav1.Object { return &appsv1.Deployment{} },
	"apps/v1 StatefulSet":                    func() metav1.Object { return &appsv1.StatefulSet{} },
	"v1 Service":                             func() metav1.Object { return &corev1.Service{} },
	"autoscaling/v2 HorizontalPodAutoscaler": func() metav1.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1 PodDisruptionBudget":          func() metav1.Object { return &policyv1.PodDisruptionBudget{} },
}

// render builds the kustomization in dir with the kustomize library (what
// `kubectl kustomize` runs) and decodes every resource strictly.
func render(fs filesys.FileSystem, dir string) ([]object, error) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var objects []object
	for _, r := range resources.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		obj, err := decode(doc)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", r.GetKind(), r.GetName(), err)
		}
		objects = append(objects, obj)
	}
	return objects, nil
}

// decode turns one YAML document into its API type. It fails on duplicate
// keys, on an apiVersion/kind not in kinds, and on any field the type does
// not have, matched case-sensitively as the API server does (encoding/json
// alone would accept `containerport` for `containerPort`).
func decode(doc []byte) (object, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return object{}, err
	}
	var meta metav1.TypeMeta
	if err := json.Unmarshal(js, &meta); err != nil {
		return object{}, err
	}
	newObject, ok := kinds[meta.APIVersion+" "+meta.Kind]
	if !ok {
		return object{}, fmt.Errorf("unknown kind %q of apiVersion %q (known: the kinds map in render.go)", meta.Kind, meta.APIVersion)
	}
	obj := newObject()
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowUnknownFields)
	if err != nil {
		return object{}, err
	}
	if len(strict) > 0 {
		return object{}, errors.Join(strict...)
	}
	return object{Kind: meta.Kind, Name: obj.GetName(), Obj: obj}, nil
}
