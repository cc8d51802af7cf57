//go:build tools

// Package fluxbuild only pins the controller module; the binary is built by import path.
package fluxbuild

import _ "github.com/fluxcd/kustomize-controller"
