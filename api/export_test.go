package api

import "slices"

// Hooks for the external tests (package api_test).

// OpenAPIDoc is the embedded OpenAPI document.
var OpenAPIDoc = openAPIDoc

// IsPublicPath reports whether path is served without a token.
func IsPublicPath(path string) bool { return publicPaths[path] }

// Patterns returns the mux patterns s registered, in order.
func (s *Server) Patterns() []string { return slices.Clone(s.mux.patterns) }
