package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// clapEnv matches the `env = "NAME"` of a clap argument.
var clapEnv = regexp.MustCompile(`\benv\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"`)

// rustEnvNames returns the environment variables a clap configuration reads:
// every `env = "NAME"` in its source.
func rustEnvNames(source string) []string {
	var names []string
	for _, m := range clapEnv.FindAllStringSubmatch(source, -1) {
		names = append(names, m[1])
	}
	return names
}

// goEnvNames returns the environment variables the Go files of dir (not its
// subdirectories, not its tests) read: every string literal passed to a
// function or method named Getenv or LookupEnv, in any case (os.Getenv, or
// a getenv parameter standing for it).
func goEnvNames(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 || !readsEnv(call.Fun) {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if name, err := strconv.Unquote(lit.Value); err == nil {
					seen[name] = true
				}
			}
			return true
		})
	}
	return sortedKeys(seen), nil
}

func readsEnv(fun ast.Expr) bool {
	var name string
	switch f := fun.(type) {
	case *ast.Ident:
		name = f.Name
	case *ast.SelectorExpr:
		name = f.Sel.Name
	}
	name = strings.ToLower(name)
	return name == "getenv" || name == "lookupenv"
}

// programEnvNames reads, from the repository at repo, the variables of each
// program the manifests run, by container name: the rpc-server's from its
// clap configuration (plus RUST_LOG, read by its tracing filter), the
// gateway's from its Go sources.
func programEnvNames(repo string) (map[string]map[string]bool, error) {
	config, err := os.ReadFile(filepath.Join(repo, "rpc-server", "src", "config.rs"))
	if err != nil {
		return nil, err
	}
	rpcServer := append(rustEnvNames(string(config)), "RUST_LOG")
	gateway, err := goEnvNames(filepath.Join(repo, "http-server-go"))
	if err != nil {
		return nil, err
	}
	if len(rpcServer) < 2 || len(gateway) == 0 {
		return nil, fmt.Errorf("found no environment variables in rpc-server/src/config.rs (%d) or http-server-go (%d): has the code moved?", len(rpcServer)-1, len(gateway))
	}
	return map[string]map[string]bool{
		"rpc-server":  set(rpcServer),
		"http-server": set(gateway),
	}, nil
}

func set(names []string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, name := range names {
		s[name] = true
	}
	return s
}
