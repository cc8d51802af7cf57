module fluxbuild

go 1.26.0

require github.com/fluxcd/source-controller v1.9.6

// Copied from github.com/fluxcd/source-controller@v1.9.6/go.mod
// (replace directives only apply in the main module).
replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20220411205349-bde1400a84be

// source-controller v1.9.6 wants pkg/artifact v0.18.3, which the module proxy
// refuses (403 "This module version is not available"); v0.18.0 is served.
replace github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0
