// A Git server for the end-to-end suite's GitOps engine: Git's own smart HTTP protocol
// (`git http-backend`, as a CGI program) over the repositories under /srv/git, read and write,
// without authentication. It runs in a pod of the kind cluster; Flux's source-controller clones
// from it and the tests push to it.
package main

import (
	"log"
	"net/http"
	"net/http/cgi"
	"os"
)

func main() {
	root := os.Getenv("GIT_PROJECT_ROOT")
	if root == "" {
		root = "/srv/git"
	}
	backend := &cgi.Handler{
		Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			// Pushes come from the tests (`git push` inside the pod goes to the path directly).
			"REMOTE_USER=e2e",
		},
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	http.Handle("/", backend)
	log.Printf("serving the repositories under %s on :8080", root)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
